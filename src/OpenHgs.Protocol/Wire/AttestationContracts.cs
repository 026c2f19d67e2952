using System.Security.Cryptography;
using System.Text;

namespace OpenHgs.Protocol.Wire;

/// <summary>
/// Answer to <c>POST /attestation/v1/challenge</c> (and an attestation's <see cref="AttestResponse.NextChallenge"/>): a
/// single-use nonce (base64url, 32 bytes: 96 random bits, its expiry and the service's 128-bit MAC over both) and its expiry.
/// The host uses the nonce's bytes as they are (host-key message, TPM qualifying data); their layout is the service's business.
/// </summary>
public sealed record ChallengeResponse(string Nonce, DateTimeOffset ExpiresAt);

/// <summary><c>POST /attestation/v1/attest</c>: evidence bound to a nonce. Exactly one evidence kind is present.</summary>
public sealed record AttestRequest(string Nonce, HostKeyEvidence? HostKey = null, TpmEvidence? Tpm = null);

/// <summary>
/// Host-key evidence: the registered signing key (DER SPKI, base64), the host's RSA encryption key that the
/// health certificate will certify (DER SPKI, base64), and the signature (base64) over
/// <see cref="HostKeyEvidenceMessage.Build"/> — ES256 for P-256 keys and ES384 for P-384 keys (r‖s), RS256 for RSA keys of
/// at least 2048 bits: the scheme <see cref="HostSigningKeys.Judge"/> gives the signing key.
/// </summary>
public sealed record HostKeyEvidence(string SigningPublicKey, string EncryptionPublicKey, string Signature);

/// <summary>
/// The attestation verdict: <c>Passed</c> with a certificate, or a failure status and every reason; and a fresh
/// challenge for the next attestation, so a host renewing its certificate needs one round trip per attestation.
/// </summary>
public sealed record AttestResponse(
    string Status,
    string? HealthCertificate,
    DateTimeOffset? ValidUntil,
    int PolicyVersion,
    IReadOnlyList<AttestationReason> Reasons,
    ChallengeResponse? NextChallenge = null);

/// <summary>One named reason (Keylime-style): a stable code, a message, how bad, and whether the host can fix it by retrying.</summary>
public sealed record AttestationReason(string Code, string Message, string Severity, bool Recoverable, string? Policy = null);

/// <summary>The exact bytes a host signs in host-key mode.</summary>
public static class HostKeyEvidenceMessage
{
    private static readonly byte[] Domain = Encoding.ASCII.GetBytes("OpenHGS-host-key-attestation-v1\0");

    /// <summary><c>"OpenHGS-host-key-attestation-v1\0" ‖ nonce ‖ SHA-256(encryption key SPKI)</c>.</summary>
    public static byte[] Build(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> encryptionPublicKeySpki)
    {
        byte[] message = new byte[Domain.Length + nonce.Length + SHA256.HashSizeInBytes];
        Domain.CopyTo(message, 0);
        nonce.CopyTo(message.AsSpan(Domain.Length));
        SHA256.HashData(encryptionPublicKeySpki, message.AsSpan(Domain.Length + nonce.Length));
        return message;
    }
}
