using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// <c>hgs server rotate-admin-token --data DIR</c>: replaces the admin credential of an initialised fabric, with the
/// data folder's key store (for the settings row's MAC) and database, whether or not a server is running on them.
/// </summary>
/// <remarks>
/// Security contract: the new token is written to <c>DATA/admin.token</c> (0600, atomically replacing the old file)
/// before its hash is stored, so an interruption never leaves a stored hash without its token (running the command
/// again recovers). The change is audited (<c>admin.server.rotate-admin-token</c>) in the transaction that stores the
/// hash. Running servers on this database check the stored hash on every admin request, so the old token is refused
/// from the commit on, on every node; only this node's <c>admin.token</c> is rewritten.
/// </remarks>
public static class AdminCredentialRotation
{
    /// <summary>Rotates the credential; returns the path of the token file it wrote.</summary>
    /// <exception cref="HgsConfigurationException">The folder is not an initialised data folder (or its files are exposed).</exception>
    public static async Task<string> RotateAsync(string dataDirectory, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        ArgumentNullException.ThrowIfNull(time);
        string data = Path.GetFullPath(dataDirectory);
        var configuration = HgsConfiguration.Load(data);
        using var store = HgsRuntime.OpenKeyStore(configuration, data, production: false, NullLoggerFactory.Instance, time);
        using var database = HgsRuntime.OpenDatabase(configuration, data, time, new KeyStoreRowAuthenticator(store));
        await KeyStoreRowAuthenticator.EnsureKeyAsync(store, database, cancellationToken).ConfigureAwait(false);
        await database.MigrateAsync(cancellationToken).ConfigureAwait(false);
        if (await database.ReadAsync(s => s.Settings.GetAsync(SettingNames.FabricName), cancellationToken).ConfigureAwait(false) is null)
        {
            throw new HgsConfigurationException("data", $"The database of '{data}' holds no initialised fabric; run 'hgs server init' first.");
        }

        string tokenPath = Path.Combine(data, HgsInitializer.AdminTokenFile);
        await new AdminCredential(database).ReplaceAsync(
            token => OwnerOnlyFile.Replace(tokenPath, System.Text.Encoding.UTF8.GetBytes(token + "\n")),
            credential => AuditRecord.Create(AuditEvents.AdminCredentialRotated, AuditOutcomes.Success, SettingHistory.CredentialSubject, null, ("node", Environment.MachineName), credential),
            cancellationToken).ConfigureAwait(false);
        return tokenPath;
    }
}
