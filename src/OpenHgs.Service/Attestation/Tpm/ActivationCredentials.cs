using System.Buffers.Binary;
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
/// replaces could be filled by a stranger: a review finding). The activation-MAC key is derived like the challenge
/// key (<see cref="DerivedMacKey"/>, its own domain): whoever reads the service's memory could make credentials, which
/// buys nothing without the TPM — the credential still has to be recovered through ActivateCredential.
/// </remarks>
public sealed class ActivationCredentials
{
    /// <summary>How long a started activation can be completed.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    public const int RandomBytes = 12;
    public const int ExpiryBytes = sizeof(uint);
    public const int MacBytes = 16;
    public const int CredentialBytes = RandomBytes + ExpiryBytes + MacBytes;

    private static ReadOnlySpan<byte> KeyDerivationDomain => "OpenHGS-activation-mac-key-v1\0"u8;

    private static ReadOnlySpan<byte> MacDomain => "OpenHGS-activation-v1\0"u8;

    private static ReadOnlySpan<byte> UsedDomain => "OpenHGS-activation-used-v1\0"u8;

    private readonly DerivedMacKey _key;
    private readonly TimeProvider _time;

    /// <param name="rows">The fabric's row-MAC key (in the key store) the activation-MAC key is derived from.</param>
    public ActivationCredentials(IRowAuthenticator rows, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _key = new DerivedMacKey(rows, KeyDerivationDomain);
        _time = time;
    }

    /// <summary>A fresh credential for this EK and AK, and its expiry (nothing is stored). The caller zeroes it after MakeCredential.</summary>
    public (byte[] Credential, DateTimeOffset ExpiresAt) Issue(byte[] ekPublic, byte[] akPublic)
    {
        ArgumentNullException.ThrowIfNull(ekPublic);
        ArgumentNullException.ThrowIfNull(akPublic);
        uint expiresAt = checked((uint)(_time.GetUtcNow() + Lifetime).ToUnixTimeSeconds());
        byte[] credential = new byte[CredentialBytes];
        RandomNumberGenerator.Fill(credential.AsSpan(0, RandomBytes));
        BinaryPrimitives.WriteUInt32BigEndian(credential.AsSpan(RandomBytes, ExpiryBytes), expiresAt);
        Mac(ekPublic, akPublic, credential.AsSpan(0, RandomBytes + ExpiryBytes), credential.AsSpan(RandomBytes + ExpiryBytes));
        return (credential, DateTimeOffset.FromUnixTimeSeconds(expiresAt));
    }

    /// <summary>
    /// The expiry of <paramref name="credential"/> when this cluster issued it for exactly this EK and AK and it has not
    /// expired. Checks the MAC in constant time before the expiry; touches no database.
    /// </summary>
    /// <exception cref="ServiceException"><c>ActivationInvalid</c>: not a credential this cluster issued for this EK and AK;
    /// <c>ActivationExpired</c>: issued, but too long ago.</exception>
    public DateTimeOffset Open(byte[] credential, byte[] ekPublic, byte[] akPublic)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(ekPublic);
        ArgumentNullException.ThrowIfNull(akPublic);
        Span<byte> expected = stackalloc byte[MacBytes];
        if (credential.Length == CredentialBytes)
        {
            Mac(ekPublic, akPublic, credential.AsSpan(0, RandomBytes + ExpiryBytes), expected);
        }

        if (credential.Length != CredentialBytes || !CryptographicOperations.FixedTimeEquals(expected, credential.AsSpan(RandomBytes + ExpiryBytes)))
        {
            throw ServiceException.Forbidden("ActivationInvalid", "The credential was not issued for this EK and AK; start the activation again.");
        }

        var expiresAt = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadUInt32BigEndian(credential.AsSpan(RandomBytes, ExpiryBytes)));
        return _time.GetUtcNow() > expiresAt
            ? throw ServiceException.Forbidden("ActivationExpired", $"The activation expired at {expiresAt:O}; start it again.")
            : expiresAt;
    }

    /// <summary>The used-nonce row's key for a completed credential: distinct from every attestation nonce's.</summary>
    public static string UsedKey(byte[] credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return Convert.ToHexStringLower(SHA256.HashData([.. UsedDomain, .. credential]));
    }

    private void Mac(byte[] ekPublic, byte[] akPublic, ReadOnlySpan<byte> randomAndExpiry, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[MacDomain.Length + (2 * SHA256.HashSizeInBytes) + RandomBytes + ExpiryBytes];
        MacDomain.CopyTo(input);
        SHA256.HashData(ekPublic, input.Slice(MacDomain.Length, SHA256.HashSizeInBytes));
        SHA256.HashData(akPublic, input.Slice(MacDomain.Length + SHA256.HashSizeInBytes, SHA256.HashSizeInBytes));
        randomAndExpiry.CopyTo(input[(MacDomain.Length + (2 * SHA256.HashSizeInBytes))..]);
        _key.Mac(input, destination);
    }
}
