using System.Security.Cryptography;
using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// An HMAC-SHA256 key for MACs the service makes and checks itself, many times a second (stateless challenges, AK
/// activation credentials): derived once per process as HMAC-SHA256, under the fabric's row-MAC key in the key store,
/// of a domain string of its own.
/// </summary>
/// <remarks>
/// Security contract: every node of a cluster holds the row-MAC key, so every node derives the same key; the database
/// never holds it, nor any value from which it follows (no row MAC or backup seal is made over a domain string), and
/// it is never the row-MAC key itself. It lives in the service's memory so a MAC costs no key store round trip; whoever
/// reads that memory could make such MACs, so a derived key may only vouch for things that buy nothing alone (a
/// nonce's freshness; a credential that still has to be recovered by the TPM holding the EK).
/// </remarks>
internal sealed class DerivedMacKey
{
    private readonly IRowAuthenticator _rows;
    private readonly byte[] _domain;
    private byte[]? _key;

    /// <param name="domain">What the key is for, ending in a NUL, e.g. <c>"OpenHGS-challenge-mac-key-v1\0"</c>; each use has its own.</param>
    public DerivedMacKey(IRowAuthenticator rows, ReadOnlySpan<byte> domain)
    {
        ArgumentNullException.ThrowIfNull(rows);
        _rows = rows;
        _domain = domain.ToArray();
    }

    /// <summary>HMAC-SHA256 of <paramref name="input"/>, truncated to <paramref name="destination"/>'s length.</summary>
    public void Mac(ReadOnlySpan<byte> input, Span<byte> destination)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(Key, input, mac);
        mac[..destination.Length].CopyTo(destination);
    }

    /// <summary>The key, derived on first use (the key store must be reachable then; it throws, failing closed, if not).</summary>
    private byte[] Key => Volatile.Read(ref _key) ?? Derive();

    private byte[] Derive()
    {
        byte[] key = _rows.Compute(_domain);
        return Interlocked.CompareExchange(ref _key, key, null) ?? key;
    }
}
