using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Admin;

/// <summary>
/// The admin bearer credential. The service stores only its SHA-256 and compares in constant time; the
/// token itself is shown once, to the operator, in <c>DATA/admin.token</c> (0600).
/// </summary>
public sealed partial class AdminCredential(IHgsDatabase database, ILogger<AdminCredential>? logger = null)
{
    private byte[]? _expectedHash;

    /// <summary>Creates a new random credential, replacing any previous one, and returns it (the only time it exists in clear).</summary>
    public async Task<string> CreateAsync(CancellationToken cancellationToken)
    {
        string token = "hgsadm_" + Base64UrlNoPadding(RandomNumberGenerator.GetBytes(32));
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        await database.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(SettingNames.AdminTokenHash, Convert.ToHexStringLower(hash)).ConfigureAwait(false);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        _expectedHash = hash;
        return token;
    }

    /// <summary>True when <paramref name="presented"/> is the admin credential. Fails closed when none is configured.</summary>
    public async Task<bool> VerifyAsync(string? presented, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > 256)
        {
            return false;
        }

        var expected = _expectedHash;
        if (expected is null)
        {
            string? stored;
            try
            {
                stored = await database.ReadAsync(s => s.Settings.GetAsync(SettingNames.AdminTokenHash), cancellationToken).ConfigureAwait(false);
            }
            catch (RowIntegrityException ex)
            {
                LogCredentialRefused(logger ?? (ILogger)NullLogger.Instance, ex.Table, ex.Key);
                // Someone replaced the hash (e.g. with that of a token they know): nobody is admitted on it.
                throw ServiceException.Unavailable(RowIntegrityProblems.AdminCredentialIntegrity,
                    "The admin credential was changed outside OpenHGS (its MAC does not verify); no admin request is accepted until the row is restored from a backup (docs/security.md).");
            }

            if (stored is null)
            {
                return false;
            }

            expected = Convert.FromHexString(stored);
            _expectedHash = expected;
        }

        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), expected);
    }

    [LoggerMessage(EventId = 1500, Level = LogLevel.Critical, Message = "The {Table} row '{Key}' fails its integrity check (written outside OpenHGS): every admin request is refused until the credential is replaced")]
    private static partial void LogCredentialRefused(ILogger logger, string table, string key);

    private static string Base64UrlNoPadding(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
