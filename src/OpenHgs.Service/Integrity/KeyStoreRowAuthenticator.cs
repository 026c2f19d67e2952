using OpenHgs.Crypto;
using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// MACs database rows with the fabric's row-MAC key in the key store (<see cref="IRecordAuthenticator"/>): the
/// database holds rows and MACs, never the key, so a database writer cannot forge a row the service will use.
/// </summary>
public sealed class KeyStoreRowAuthenticator : IRowAuthenticator
{
    /// <summary>The label of the fabric's row-MAC key; every node (every HSM cluster member) must hold the same key.</summary>
    public const string MacKeyLabel = "openhgs-row-mac";

    private readonly IRecordAuthenticator _authenticator;

    public KeyStoreRowAuthenticator(IKeyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _authenticator = store.AsRecordAuthenticator() ?? throw new KeyStoreConfigurationException("keyStore",
            $"the {store.Kind} key store cannot hold an HMAC key, which OpenHGS needs to protect its database rows (docs/security.md).");
    }

    public byte[] Compute(byte[] canonicalRow) => _authenticator.ComputeMac(MacKeyLabel, canonicalRow);

    /// <summary>
    /// Makes sure the key store holds the row-MAC key before the database is migrated or used. The key is created only
    /// for a database that has no row MACs yet (new, or from before them: schema below <see cref="SqlDialect.RowMacVersion"/>);
    /// for a database whose rows are already MACed, a store without the key is a configuration error (the key must
    /// be cloned from the other nodes' HSMs), never a reason to make a new key.
    /// </summary>
    /// <returns>True when the key was created now.</returns>
    public static async Task<bool> EnsureKeyAsync(IKeyStore store, IHgsDatabase database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(database);
        var authenticator = store.AsRecordAuthenticator() ?? throw new KeyStoreConfigurationException("keyStore",
            $"the {store.Kind} key store cannot hold an HMAC key, which OpenHGS needs to protect its database rows (docs/security.md).");
        if (authenticator.HasMacKey(MacKeyLabel))
        {
            return false;
        }

        if (await database.GetSchemaVersionAsync(cancellationToken).ConfigureAwait(false) >= SqlDialect.RowMacVersion)
        {
            throw new KeyStoreConfigurationException("keyStore",
                $"the key store has no row-MAC key '{MacKeyLabel}', but the database's rows are MACed with one: give this node the same HSM keys as the others (docs/hsm-cluster.md).");
        }

        authenticator.CreateMacKey(MacKeyLabel);
        return true;
    }
}
