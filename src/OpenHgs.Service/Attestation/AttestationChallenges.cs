using System.Buffers.Text;
using System.Security.Cryptography;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Attestation;

/// <summary>
/// Stateless attestation challenges: issuing one writes nothing. A nonce is
/// <c>random (12 bytes) ‖ expiresAt (Unix seconds, 4 bytes big-endian, unsigned) ‖ MAC (16 bytes)</c>, 32 bytes, where the MAC is
/// HMAC-SHA256 truncated to 128 bits, under the challenge-MAC key, over <c>"OpenHGS-challenge-v1\0" ‖ random ‖ expiresAt</c>.
/// Its single use is enforced by the attestation's own commit (<see cref="TryMarkUsedAsync"/>: a used-nonce row keyed by
/// the nonce's hash), not by a row written at issue. The layout and its checks are <see cref="MacedToken"/>'s (shared with
/// AK activation credentials, under another key and label), with an empty context.
/// </summary>
/// <remarks>
/// <para>
/// Security contract. Only a holder of the challenge-MAC key can make a nonce that verifies, so a nonce (and its
/// expiry) is one this cluster issued, and nobody else can predict one, so evidence cannot be made before the challenge;
/// the 96 random bits keep issued nonces distinct (a repeat is expected only after about 2^48 challenges). The key is derived, once per process, as HMAC-SHA256 under the fabric's row-MAC key in the key store
/// (<see cref="OpenHgs.Service.Integrity.KeyStoreRowAuthenticator.MacKeyLabel"/>, which every node of a cluster holds)
/// of <c>"OpenHGS-challenge-mac-key-v1\0"</c>: every node derives the same key, the database never holds it (nor any
/// value from which it follows: no row MAC or backup seal starts with that domain), and it is never the row-MAC key.
/// It lives in the service's memory (<see cref="DerivedMacKey"/>), so a MAC costs no key store round trip; whoever reads
/// that memory could mint nonces, which buys freshness only — evidence must still be signed by a registered host key or TPM.
/// </para>
/// <para>
/// The order of checks at attestation (<see cref="Open"/>, then <see cref="CheckAsync"/>): decode, MAC (constant
/// time), expiry, then an indexed read that the nonce is not used yet — all before any evidence verification or key
/// store signature, so a forged, stale or replayed body costs at most one read.
/// </para>
/// </remarks>
public sealed class AttestationChallenges
{
    /// <summary>How long a nonce can be answered.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    public const int RandomBytes = MacedToken.RandomBytes;
    public const int ExpiryBytes = MacedToken.ExpiryBytes;
    public const int MacBytes = MacedToken.MacBytes;

    /// <summary>
    /// The wire nonce's length, 32: it is also the TPM quote's and certification's qualifying data (TPM2B_DATA), which
    /// holds at most 34 bytes on a TPM whose largest hash is SHA-256 (most discrete TPMs).
    /// </summary>
    public const int NonceBytes = MacedToken.Bytes;

    /// <summary>How much longer than its expiry a used nonce's row is kept: the nodes' clocks may differ by this much.</summary>
    public static readonly TimeSpan PurgeGrace = TimeSpan.FromMinutes(5);

    /// <summary>One attestation commit in this many also purges the rows of nonces expired long enough.</summary>
    private const int PurgeEvery = 256;

    private static ReadOnlySpan<byte> KeyDerivationDomain => "OpenHGS-challenge-mac-key-v1\0"u8;

    private static ReadOnlySpan<byte> MacDomain => "OpenHGS-challenge-v1\0"u8;

    private readonly MacedToken _tokens;
    private readonly IHgsDatabase _database;
    private readonly TimeProvider _time;
    private long _commits;

    /// <param name="rows">The fabric's row-MAC key (in the key store) the challenge-MAC key is derived from.</param>
    public AttestationChallenges(IRowAuthenticator rows, IHgsDatabase database, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(time);
        _tokens = new MacedToken(rows, KeyDerivationDomain, MacDomain, Lifetime, time);
        _database = database;
        _time = time;
    }

    /// <summary>A fresh nonce and its expiry (nothing is stored).</summary>
    public ChallengeResponse Issue()
    {
        // A nonce binds nothing but itself: an empty context.
        var (nonce, expiresAt) = _tokens.Issue([]);
        return new ChallengeResponse(Base64Url.EncodeToString(nonce), expiresAt);
    }

    /// <summary>
    /// Decodes <paramref name="text"/> and checks its MAC (constant time), then its expiry: the nonce with its
    /// failure (<c>NonceUnknown</c>: not issued by this cluster; <c>NonceExpired</c>), or with none. Touches no database.
    /// </summary>
    /// <exception cref="ServiceException"><c>NonceMalformed</c> (400): not base64url, or not <see cref="NonceBytes"/> long.</exception>
    public OpenedNonce Open(string? text)
    {
        byte[] nonce = TryDecode(text) is { Length: NonceBytes } decoded
            ? decoded
            : throw ServiceException.BadRequest(nameof(AttestationFailureCode.NonceMalformed),
                $"nonce: expected the {NonceBytes}-byte base64url value from /attestation/v1/challenge (or an attestation's nextChallenge).");
        var (verdict, expiresAt) = _tokens.Open(nonce, []);
        return verdict switch
        {
            MacedTokenVerdict.Valid => new OpenedNonce(nonce, expiresAt, null),
            MacedTokenVerdict.Expired => new OpenedNonce(nonce, expiresAt, AttestationFailure.Of(AttestationFailureCode.NonceExpired, $"The nonce expired at {expiresAt:O}; request a new challenge.")),
            _ => new OpenedNonce(nonce, null, AttestationFailure.Of(AttestationFailureCode.NonceUnknown,
                "The nonce was not issued by this service (its MAC does not verify); request a new challenge.")),
        };
    }

    /// <summary>
    /// The nonce's failure, if any, before any expensive check: <see cref="Open"/>'s, else <c>NonceReplayed</c> when
    /// an attestation already committed it (one indexed read). Only <see cref="TryMarkUsedAsync"/> makes it used.
    /// </summary>
    public async Task<AttestationFailure?> CheckAsync(OpenedNonce nonce, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        if (nonce.Failure is not null)
        {
            return nonce.Failure;
        }

        return await _database.ReadAsync(s => s.UsedNonces.IsUsedAsync(nonce.Hash), cancellationToken).ConfigureAwait(false)
            ? Replayed
            : null;
    }

    /// <summary>
    /// In the attestation's one write transaction: records the nonce as used; <c>NonceReplayed</c>, having written
    /// nothing, when another attestation committed it first (even one running concurrently on another node). The
    /// nonce's own failure when it has one (nothing is recorded for a forged or expired nonce). One commit in
    /// <see cref="PurgeEvery"/> also drops rows of nonces expired more than <see cref="PurgeGrace"/> ago.
    /// </summary>
    public async Task<AttestationFailure?> TryMarkUsedAsync(HgsSession session, OpenedNonce nonce)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(nonce);
        if (nonce.Failure is not null)
        {
            return nonce.Failure;
        }

        if (Interlocked.Increment(ref _commits) % PurgeEvery == 0)
        {
            await session.UsedNonces.PurgeExpiredAsync(_time.GetUtcNow() - PurgeGrace).ConfigureAwait(false);
        }

        return await session.UsedNonces.TryMarkUsedAsync(nonce.Hash, nonce.ExpiresAt!.Value).ConfigureAwait(false) ? null : Replayed;
    }

    private static AttestationFailure Replayed => AttestationFailure.Of(AttestationFailureCode.NonceReplayed,
        "The nonce was already used by an attestation; request a new challenge.");

    private static byte[]? TryDecode(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 128)
        {
            return null;
        }

        try
        {
            return Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>A decoded nonce: its bytes, its expiry once its MAC verified, and its failure (MAC or expiry) if any.</summary>
public sealed record OpenedNonce(byte[] Nonce, DateTimeOffset? ExpiresAt, AttestationFailure? Failure)
{
    /// <summary>The used-nonce row's key: SHA-256 of the nonce (lowercase hex).</summary>
    public string Hash { get; } = Convert.ToHexStringLower(SHA256.HashData(Nonce));
}
