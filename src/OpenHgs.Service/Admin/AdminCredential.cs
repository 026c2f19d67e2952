using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Admin;

/// <summary>
/// The admin bearer credential. The service stores only its SHA-256 (a MACed settings row) and compares in constant
/// time; the token itself is shown once, to the operator, in <c>DATA/admin.token</c> (0600).
/// </summary>
/// <remarks>
/// Security contract: every check reads the stored hash, so a replacement (<c>hgs server rotate-admin-token</c>, run by
/// another process or on another node sharing the database) takes effect at the next request: the old token is refused
/// and the new one accepted without a restart. What is cached is one immutable snapshot (the verified row and its
/// hash), swapped whole with <see cref="Volatile"/>, which only spares the row's MAC check while the row is unchanged.
/// A row that fails its MAC admits nobody; no stored hash admits nobody.
/// </remarks>
public sealed partial class AdminCredential(IHgsDatabase database, ILogger<AdminCredential>? logger = null)
{
    private CredentialSnapshot? _current;

    /// <summary>
    /// Creates a new random credential and replaces any previous one. The token is handed to <paramref name="keepToken"/>
    /// first, which must store it durably (e.g. write <c>DATA/admin.token</c>); only then is its hash stored, with
    /// <paramref name="audit"/> in the same transaction. So an interruption never leaves a stored hash whose token
    /// was lost: at worst the file holds a token that is not yet accepted, and running the replacement again fixes it.
    /// </summary>
    /// <param name="audit">The record of the change, given the detail that names the new credential (<see cref="SettingHistory.CredentialDigestDetail"/>), or null (at init).</param>
    public async Task ReplaceAsync(Action<string> keepToken, Func<(string Key, string? Value), AuditEvent>? audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keepToken);
        string token = "hgsadm_" + System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        keepToken(token);
        await database.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(SettingNames.AdminTokenHash, hash).ConfigureAwait(false);
            if (audit is not null)
            {
                await s.Audit.AppendAsync(audit((SettingHistory.CredentialDigestDetail, SettingHistory.CredentialDigest(hash)))).ConfigureAwait(false);
            }

            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when <paramref name="presented"/> is the admin credential stored now. Fails closed when none is configured.</summary>
    /// <exception cref="ServiceException"><c>AdminCredentialIntegrity</c> (503): the stored hash fails its MAC.</exception>
    public async Task<bool> VerifyAsync(string? presented, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > 256)
        {
            return false;
        }

        var known = Volatile.Read(ref _current);
        VerifiedSetting? row;
        try
        {
            row = await database.ReadAsync(async s =>
            {
                var found = await s.Settings.GetVerifiedAsync(SettingNames.AdminTokenHash, known?.Row).ConfigureAwait(false);
                if (found is not null)
                {
                    // Every time, not only when the row changed: a copy of the row this node last saw, put back after a
                    // rotation it never saw, is byte for byte the row it remembers (one indexed read per admin request).
                    await SettingHistory.CheckAsync(s, SettingNames.AdminTokenHash, found.Value).ConfigureAwait(false);
                }

                return found;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (RowIntegrityException ex)
        {
            LogCredentialRefused(logger ?? (ILogger)NullLogger.Instance, ex.Table, ex.Key);
            // Someone replaced the hash (e.g. with that of a token they know): nobody is admitted on it.
            throw ServiceException.Unavailable(RowIntegrityProblems.AdminCredentialIntegrity,
                $"The admin credential {RowIntegrityProblems.WhatHappened(ex)}; no admin request is accepted until the row is restored from a backup or replaced with 'hgs server rotate-admin-token' (docs/security.md).");
        }

        if (row is null)
        {
            return false;
        }

        var current = known;
        if (current is null || !ReferenceEquals(current.Row, row))
        {
            current = new CredentialSnapshot(row, Convert.FromHexString(row.Value));
            Volatile.Write(ref _current, current);
        }

        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), current.Hash);
    }

    [LoggerMessage(EventId = 1500, Level = LogLevel.Critical, Message = "The {Table} row '{Key}' fails its integrity check (written outside OpenHGS): every admin request is refused until the credential is replaced")]
    private static partial void LogCredentialRefused(ILogger logger, string table, string key);

    /// <summary>The stored row as last verified and the hash it holds: replaced whole, never edited.</summary>
    private sealed record CredentialSnapshot(VerifiedSetting Row, byte[] Hash);
}
