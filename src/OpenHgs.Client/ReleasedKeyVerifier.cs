using System.Security.Cryptography;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client;

/// <summary>Decrypts a key wrapped to the host's encryption key (host key file or TPM) with the given OAEP padding.</summary>
internal delegate byte[] HostKeyDecryptor(byte[] wrapped, RSAEncryptionPadding padding);

/// <summary>
/// The host's check of a key release, before it uses or writes anything from it.
/// </summary>
/// <remarks>
/// Security contract: <see cref="Open"/> returns only when (1) the transport key is 32 bytes and its HMAC-SHA256 over
/// the payload of the key protector the host sent equals that key protector's <c>transportKeySignature</c>; (2) the
/// egress key protector's signatures chain to its owner, and that owner is the sent key protector's owner (same
/// certificates); (3) the egress transport key passes check (1) against the egress key protector; and (4) the two keys
/// differ. The host's encryption public key is public (its health certificate carries it), so anyone between host and
/// service can wrap a key of their choosing to it; (1) and (3) make such a key useless unless it is the key protector's
/// own, and (2) keeps a stranger's key protector from being passed off as the VM's next one. On any refusal every key
/// decrypted so far is zeroed; the caller owns and zeroes the keys of the returned outcome.
/// </remarks>
internal static class ReleasedKeyVerifier
{
    private const string Egress = "Egress";

    public static UnlockOutcome Open(ReleaseResponse response, byte[] keyProtector, HostKeyDecryptor decrypt)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(keyProtector);
        ArgumentNullException.ThrowIfNull(decrypt);
        var ingress = Parse(keyProtector, prefix: "");
        byte[] transportKey = DecryptVerified(response.TransportKey, ingress, decrypt, prefix: "");
        try
        {
            byte[] egressBytes = ResponseBase64.Decode(response.EgressKeyProtector, "egressKeyProtector");
            var egress = Parse(egressBytes, Egress);
            Guard(Egress + "KeyProtector", () => KeyProtectorVerifier.VerifySignatures(egress));
            if (!SameCertificates(egress.Owner, ingress.Owner))
            {
                throw new HgsClientException("EgressKeyProtectorOwnerMismatch", "The egress key protector's owner is not the owner of the key protector that was released.");
            }

            var wrappedEgressKey = response.EgressTransportKey
                ?? throw new HgsClientException(ResponseBase64.Code, "The key protection service did not return the egress transport key.");
            byte[] egressKey = DecryptVerified(wrappedEgressKey, egress, decrypt, Egress);
            if (CryptographicOperations.FixedTimeEquals(egressKey, transportKey))
            {
                CryptographicOperations.ZeroMemory(egressKey);
                throw new HgsClientException("EgressTransportKeyNotFresh", "The egress transport key is the key being replaced, so a roll would rotate nothing.");
            }

            return new UnlockOutcome(transportKey, egressBytes, egressKey);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(transportKey);
            throw;
        }
    }

    /// <summary>Decrypts with the host key, then checks length and HMAC against <paramref name="protector"/>; zeroes the key if refused.</summary>
    private static byte[] DecryptVerified(WrappedKeyContract wrapped, KeyProtector protector, HostKeyDecryptor decrypt, string prefix)
    {
        var padding = wrapped.Algorithm switch
        {
            KeyProtectorAlgorithms.RsaOaep256 => RSAEncryptionPadding.OaepSHA256,
            KeyProtectorAlgorithms.RsaOaep => RSAEncryptionPadding.OaepSHA1,
            _ => throw new HgsClientException(ResponseBase64.Code, $"Unknown {Describe(prefix)} wrapping '{wrapped.Algorithm}'."),
        };
        byte[] cipherText = ResponseBase64.Decode(wrapped.Value, prefix.Length == 0 ? "transportKey" : "egressTransportKey");
        byte[] key;
        try
        {
            key = decrypt(cipherText, padding);
        }
        catch (CryptographicException)
        {
            throw new HgsClientException(prefix + nameof(KeyProtectorError.TransportKeyInvalid), $"The released {Describe(prefix)} does not decrypt with this host's key.");
        }

        try
        {
            Guard(prefix, () => KeyProtectorVerifier.VerifyTransportKey(protector, key));
            return key;
        }
        catch
        {
            CryptographicOperations.ZeroMemory(key);
            throw;
        }
    }

    private static KeyProtector Parse(byte[] bytes, string prefix) => Guard(prefix + "KeyProtector", () => KeyProtector.Parse(bytes));

    /// <summary>Runs a key protector check, naming a refusal <paramref name="prefix"/> + the error (e.g. <c>TransportKeySignatureInvalid</c>).</summary>
    private static T Guard<T>(string prefix, Func<T> check)
    {
        try
        {
            return check();
        }
        catch (KeyProtectorException ex)
        {
            throw new HgsClientException(prefix + ex.Error, ex.Message);
        }
    }

    private static void Guard(string prefix, Action check) => Guard(prefix, () =>
    {
        check();
        return 0;
    });

    private static bool SameCertificates(KeyProtectorWrapping a, KeyProtectorWrapping b) =>
        a.SigningCertificate.AsSpan().SequenceEqual(b.SigningCertificate) && a.EncryptionCertificate.AsSpan().SequenceEqual(b.EncryptionCertificate);

    private static string Describe(string prefix) => prefix.Length == 0 ? "transport key" : "egress transport key";
}
