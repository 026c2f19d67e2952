using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto;
using OpenHgs.Storage;

namespace OpenHgs.Service.Keys;

/// <summary>
/// A configured fabric key: its record, certificate and the key store key behind it (private part never leaves
/// the store). Snapshots are shared by in-flight requests, so these objects are left to the GC, not disposed.
/// </summary>
public sealed class FabricKey
{
    internal FabricKey(FabricKeyRecord record, IKeyStore store)
    {
        Record = record;
        Role = FabricKeyRoles.Parse(record.Role);
        Certificate = X509CertificateLoader.LoadCertificate(record.Certificate);
        var stored = store.FindKey(record.Label);
        Key = stored is null ? null : stored.Algorithm.IsRsa() ? new KeyStoreRsa(store, stored) : new KeyStoreECDsa(store, stored);
    }

    public FabricKeyRecord Record { get; }

    public FabricKeyRole Role { get; }

    public X509Certificate2 Certificate { get; }

    /// <summary>The store key, or null when the key store no longer holds it (reported by <c>keys list</c>).</summary>
    public AsymmetricAlgorithm? Key { get; }

    public string Id => Record.Id;

    public RSA Rsa => Key as RSA ?? throw ServiceException.Unavailable("FabricKeyMissing", $"Fabric key '{Id}' is not an RSA key held by the key store.");

    public ECDsa ECDsa => Key as ECDsa ?? throw ServiceException.Unavailable("FabricKeyMissing", $"Fabric key '{Id}' is not an EC key held by the key store.");
}

/// <summary>An immutable view of every fabric key at one moment.</summary>
public sealed class FabricKeySnapshot(IReadOnlyList<FabricKey> keys)
{
    public IReadOnlyList<FabricKey> Keys { get; } = keys;

    public IEnumerable<FabricKey> OfRole(FabricKeyRole role) => Keys.Where(k => k.Role == role);

    public IEnumerable<FabricKey> Enabled(FabricKeyRole role) => OfRole(role).Where(k => k.Record.Enabled);

    /// <summary>The enabled primary key of a role; the service is not ready without one.</summary>
    public FabricKey Primary(FabricKeyRole role) =>
        Enabled(role).FirstOrDefault(k => k.Record.IsPrimary)
        ?? throw ServiceException.Unavailable("NoPrimaryKey", $"There is no enabled primary {role.ToName()} key; run 'hgs keys set-primary'.");

    public FabricKey? FindByCertificate(FabricKeyRole role, ReadOnlySpan<byte> certificateDer)
    {
        foreach (var key in OfRole(role))
        {
            if (certificateDer.SequenceEqual(key.Record.Certificate))
            {
                return key;
            }
        }

        return null;
    }
}
