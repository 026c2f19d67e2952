using System.Security.Cryptography;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// Stateless AK activation credentials (design change 74): starting an activation writes nothing. The credential the
/// service seals to the EK with MakeCredential is <c>random (12 bytes) ‖ expiresAt (Unix seconds, 4 bytes big-endian)
/// ‖ MAC (16 bytes)</c>, 32 bytes (the most a SHA-256 EK's credential holds), where the MAC is HMAC-SHA256 truncated to
/// 128 bits, under the activation-MAC key, over <c>"OpenHGS-activation-v1\0" ‖ SHA-256(EK TPMT_PUBLIC) ‖ SHA-256(AK
/// TPMT_PUBLIC) ‖ random ‖ expiresAt</c>. Its single use is enforced by the completion's own commit (a used-nonce row
/// keyed by the credential's hash), not by a row written at the start.
/// </summary>
/// <remarks>
/// Security contract. Completing an activation needs the credential in clear, which only the TPM that holds the EK
/// recovers, and only for the AK whose Name MakeCredential bound (ActivateCredential); the MAC binds it to exactly
/// that EK and AK, so a credential recovered for one AK cannot activate another, and only this cluster can make one.
/// Because a start stores nothing, anyone who knows a registered EK's public key (it is not secret) can start as many
/// as the rate limit lets them without crowding out the host's own (the per-host cap of pending activations this
/// replaces could be filled by a stranger: a review finding). The credential is a <see cref="MacedToken"/> (the challenge nonce's
/// layout and checks, its own key domain and label; the EK's and AK's hashes its context): whoever reads the service's memory could make credentials, which
/// buys nothing without the TPM — the credential still has to be recovered through ActivateCredential.
/// </remarks>
public sealed class ActivationCredentials
{
    /// <summary>How long a started activation can be completed.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    public const int RandomBytes = MacedToken.RandomBytes;
    public const int ExpiryBytes = MacedToken.ExpiryBytes;
    public const int MacBytes = MacedToken.MacBytes;
    public const int CredentialBytes = MacedToken.Bytes;

    private static ReadOnlySpan<byte> KeyDerivationDomain => "OpenHGS-activation-mac-key-v1\0"u8;

    private static ReadOnlySpan<byte> MacDomain => "OpenHGS-activation-v1\0"u8;

    private static ReadOnlySpan<byte> UsedDomain => "OpenHGS-activation-used-v1\0"u8;

    private readonly MacedToken _tokens;

    /// <param name="rows">The fabric's row-MAC key (in the key store) the activation-MAC key is derived from.</param>
    public ActivationCredentials(IRowAuthenticator rows, TimeProvider time) =>
        _tokens = new MacedToken(rows, KeyDerivationDomain, MacDomain, Lifetime, time);

    /// <summary>A fresh credential for this EK and AK, and its expiry (nothing is stored). The caller zeroes it after MakeCredential.</summary>
    public (byte[] Credential, DateTimeOffset ExpiresAt) Issue(byte[] ekPublic, byte[] akPublic) =>
        _tokens.Issue(Context(ekPublic, akPublic));

    /// <summary>
    /// The expiry of <paramref name="credential"/> when this cluster issued it for exactly this EK and AK and it has not
    /// expired. Checks the MAC in constant time before the expiry; touches no database.
    /// </summary>
    /// <exception cref="ServiceException"><c>ActivationInvalid</c>: not a credential this cluster issued for this EK and AK;
    /// <c>ActivationExpired</c>: issued, but too long ago.</exception>
    public DateTimeOffset Open(byte[] credential, byte[] ekPublic, byte[] akPublic)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var (verdict, expiresAt) = _tokens.Open(credential, Context(ekPublic, akPublic));
        return verdict switch
        {
            MacedTokenVerdict.Valid => expiresAt!.Value,
            MacedTokenVerdict.Expired => throw ServiceException.Forbidden("ActivationExpired", $"The activation expired at {expiresAt:O}; start it again."),
            _ => throw ServiceException.Forbidden("ActivationInvalid", "The credential was not issued for this EK and AK; start the activation again."),
        };
    }

    /// <summary>The used-nonce row's key for a completed credential: distinct from every attestation nonce's.</summary>
    public static string UsedKey(byte[] credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return Convert.ToHexStringLower(SHA256.HashData([.. UsedDomain, .. credential]));
    }

    /// <summary>What a credential is bound to: SHA-256 of the EK's, then of the AK's TPMT_PUBLIC.</summary>
    private static byte[] Context(byte[] ekPublic, byte[] akPublic)
    {
        ArgumentNullException.ThrowIfNull(ekPublic);
        ArgumentNullException.ThrowIfNull(akPublic);
        return [.. SHA256.HashData(ekPublic), .. SHA256.HashData(akPublic)];
    }
}
