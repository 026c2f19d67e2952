using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto;
using OpenHgs.Storage;

namespace OpenHgs.Service.Keys;

/// <summary>
/// A configured fabric key: its record, certificate and the key store key behind it (private part never leaves
/// the store). Snapshots are shared by in-flight requests, so these objects are left to the GC, not disposed.
/// </summary>
/// <remarks>
/// Security contract: a fabric key exists only when the key store holds its private key, under the row's label, with
/// the public key of the row's certificate (<see cref="TryLoad"/>). A database row alone — an attestation signer
/// someone inserted with their own certificate — is never trusted for validation, signing or decryption.
/// </remarks>
public sealed class FabricKey
{
    private FabricKey(FabricKeyRecord record, FabricKeyRole role, X509Certificate2 certificate, IKeyStore store, StoredKey stored)
    {
        Record = record;
        Role = role;
        Certificate = certificate;
        Key = stored.Algorithm.IsRsa() ? new KeyStoreRsa(store, stored) : new KeyStoreECDsa(store, stored);
    }

    /// <summary>The key of <paramref name="record"/>, or null (with why) when the store does not hold it or holds another key under its label.</summary>
    internal static FabricKey? TryLoad(FabricKeyRecord record, IKeyStore store, out FabricKeyRejection? rejection)
    {
        FabricKeyRole role;
        X509Certificate2 certificate;
        try
        {
            role = FabricKeyRoles.Parse(record.Role);
            certificate = X509CertificateLoader.LoadCertificate(record.Certificate);
        }
        catch (Exception ex) when (ex is CryptographicException or ServiceException)
        {
            rejection = FabricKeyRejection.RecordUnreadable;
            return null;
        }

        var stored = store.FindKey(record.Label);
        if (stored is null)
        {
            rejection = FabricKeyRejection.KeyNotHeld;
            return null;
        }

        if (!certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(stored.SubjectPublicKeyInfo))
        {
            rejection = FabricKeyRejection.PublicKeyMismatch;
            return null;
        }

        rejection = null;
        return new FabricKey(record, role, certificate, store, stored);
    }

    public FabricKeyRecord Record { get; }

    public FabricKeyRole Role { get; }

    public X509Certificate2 Certificate { get; }

    /// <summary>The store key (the key store held it, with the certificate's public key, when the snapshot was read).</summary>
    public AsymmetricAlgorithm Key { get; }

    public string Id => Record.Id;

    public RSA Rsa => Key as RSA ?? throw ServiceException.Unavailable("FabricKeyMissing", $"Fabric key '{Id}' is not an RSA key held by the key store.");

    public ECDsa ECDsa => Key as ECDsa ?? throw ServiceException.Unavailable("FabricKeyMissing", $"Fabric key '{Id}' is not an EC key held by the key store.");
}

/// <summary>Why a fabric_keys row is not used.</summary>
public enum FabricKeyRejection
{
    /// <summary>The row's MAC is missing or wrong: it was written or edited outside OpenHGS.</summary>
    RowIntegrity,

    /// <summary>The key store holds no private key with the row's label.</summary>
    KeyNotHeld,

    /// <summary>The key store's key under that label has another public key than the row's certificate.</summary>
    PublicKeyMismatch,

    /// <summary>The row's role or certificate cannot be read.</summary>
    RecordUnreadable,

    /// <summary>In production, the key's last custody check found a critical finding no admin accepted (design change 79).</summary>
    CustodyFailed,
}

/// <summary>A fabric_keys row that is ignored (never used for validation, signing or decryption), and why.</summary>
public sealed record RejectedFabricKey(string Id, FabricKeyRejection Reason);

/// <summary>An immutable view of every fabric key at one moment, and of the rows that were ignored.</summary>
public sealed class FabricKeySnapshot(IReadOnlyList<FabricKey> keys, IReadOnlyList<RejectedFabricKey> rejected)
{
    public IReadOnlyList<FabricKey> Keys { get; } = keys;

    /// <summary>Rows that are not trusted (reported by <c>/healthz</c> and <c>hgs diagnose</c>).</summary>
    public IReadOnlyList<RejectedFabricKey> Rejected { get; } = rejected;

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
