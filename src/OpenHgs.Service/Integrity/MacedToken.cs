using System.Buffers.Binary;
using System.Security.Cryptography;
using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// A stateless token the service issues and later checks by itself, storing nothing (challenge nonces, AK activation
/// credentials): <c>random (12 bytes) ‖ expiresAt (Unix seconds, 4 bytes big-endian, unsigned) ‖ MAC (16 bytes)</c>,
/// 32 bytes, where the MAC is HMAC-SHA256 truncated to 128 bits, under a <see cref="DerivedMacKey"/> of the token's key
/// domain, over <c>macDomain ‖ context ‖ random ‖ expiresAt</c>.
/// </summary>
/// <remarks>
/// Security contract, which every user relies on:
/// <list type="bullet">
/// <item>Domain separation: each kind of token has its own key domain (so its own derived key, never the row-MAC key)
/// and its own MAC domain label, both ending in a NUL; a token of one kind never opens as another.</item>
/// <item>Binding: <c>context</c> is what the token is for (fixed-length, e.g. hashes of the keys it was issued to;
/// empty for a nonce); a token opens only with the context it was issued with.</item>
/// <item>Constant time: the MAC is compared with <see cref="CryptographicOperations.FixedTimeEquals"/>, and computed
/// whatever the token's length, so neither the comparison nor a wrong length says how much of a guess was right.</item>
/// <item>Order: length and MAC first, the expiry only once the MAC verified, so an expiry is reported only for a token
/// this cluster issued; the expiry is read from the <see cref="TimeProvider"/>, whole seconds, never later than
/// issue time plus the lifetime.</item>
/// <item>Single use is not the token's: each user enforces it in its own commit (a used-nonce row).</item>
/// </list>
/// </remarks>
internal sealed class MacedToken
{
    public const int RandomBytes = 12;
    public const int ExpiryBytes = sizeof(uint);
    public const int MacBytes = 16;
    public const int Bytes = RandomBytes + ExpiryBytes + MacBytes;

    private readonly DerivedMacKey _key;
    private readonly byte[] _macDomain;
    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _time;

    /// <param name="rows">The fabric's row-MAC key the token key is derived from.</param>
    /// <param name="keyDomain">The token key's derivation domain, e.g. <c>"OpenHGS-challenge-mac-key-v1\0"</c>.</param>
    /// <param name="macDomain">The label the MAC input starts with, e.g. <c>"OpenHGS-challenge-v1\0"</c>.</param>
    public MacedToken(IRowAuthenticator rows, ReadOnlySpan<byte> keyDomain, ReadOnlySpan<byte> macDomain, TimeSpan lifetime, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        _key = new DerivedMacKey(rows, keyDomain);
        _macDomain = macDomain.ToArray();
        _lifetime = lifetime;
        _time = time;
    }

    /// <summary>A fresh token for <paramref name="context"/> and its expiry (rounded down to whole seconds: the one the MAC covers).</summary>
    public (byte[] Token, DateTimeOffset ExpiresAt) Issue(ReadOnlySpan<byte> context)
    {
        uint expiresAt = checked((uint)(_time.GetUtcNow() + _lifetime).ToUnixTimeSeconds());
        byte[] token = new byte[Bytes];
        RandomNumberGenerator.Fill(token.AsSpan(0, RandomBytes));
        BinaryPrimitives.WriteUInt32BigEndian(token.AsSpan(RandomBytes, ExpiryBytes), expiresAt);
        Mac(context, token.AsSpan(0, RandomBytes + ExpiryBytes), token.AsSpan(RandomBytes + ExpiryBytes));
        return (token, DateTimeOffset.FromUnixTimeSeconds(expiresAt));
    }

    /// <summary>
    /// Checks <paramref name="token"/> against <paramref name="context"/>: <see cref="MacedTokenVerdict.Valid"/> or
    /// <see cref="MacedTokenVerdict.Expired"/> with the expiry it carries, else <see cref="MacedTokenVerdict.Unknown"/>
    /// (wrong length, or a MAC that does not verify: not issued by this cluster for this context) and no expiry.
    /// </summary>
    public (MacedTokenVerdict Verdict, DateTimeOffset? ExpiresAt) Open(ReadOnlySpan<byte> token, ReadOnlySpan<byte> context)
    {
        Span<byte> expected = stackalloc byte[MacBytes];
        Span<byte> randomAndExpiry = stackalloc byte[RandomBytes + ExpiryBytes];
        token[..Math.Min(token.Length, randomAndExpiry.Length)].CopyTo(randomAndExpiry);
        Mac(context, randomAndExpiry, expected);
        if (token.Length != Bytes || !CryptographicOperations.FixedTimeEquals(expected, token[(RandomBytes + ExpiryBytes)..]))
        {
            return (MacedTokenVerdict.Unknown, null);
        }

        var expiresAt = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadUInt32BigEndian(token.Slice(RandomBytes, ExpiryBytes)));
        return (_time.GetUtcNow() > expiresAt ? MacedTokenVerdict.Expired : MacedTokenVerdict.Valid, expiresAt);
    }

    private void Mac(ReadOnlySpan<byte> context, ReadOnlySpan<byte> randomAndExpiry, Span<byte> destination)
    {
        int length = _macDomain.Length + context.Length + randomAndExpiry.Length;
        Span<byte> input = length <= 256 ? stackalloc byte[length] : new byte[length];
        _macDomain.CopyTo(input);
        context.CopyTo(input[_macDomain.Length..]);
        randomAndExpiry.CopyTo(input[(_macDomain.Length + context.Length)..]);
        _key.Mac(input, destination);
    }
}

/// <summary>What <see cref="MacedToken.Open"/> found.</summary>
internal enum MacedTokenVerdict
{
    /// <summary>Issued by this cluster for this context, not expired.</summary>
    Valid,

    /// <summary>Not a token this cluster issued for this context (wrong length or MAC).</summary>
    Unknown,

    /// <summary>Issued by this cluster for this context, past its expiry.</summary>
    Expired,
}
