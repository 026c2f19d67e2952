using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Service.Keys;

namespace OpenHgs.Service.Attestation;

/// <summary>
/// The <see cref="HealthCertificateSigner"/> of the attestation signer in force, built once per fabric key instead of
/// once per attestation (it reads the issuer name and key identifier from the signer's certificate).
/// </summary>
/// <remarks>
/// As <c>KeyReleaseService</c> keeps its validator per key snapshot: the fabric key and the signer built from it are
/// one immutable holder swapped whole and matched by reference, so a signer is never used with a key (or a snapshot:
/// every snapshot loads its own <see cref="FabricKey"/> objects) other than the one it was built from.
/// </remarks>
internal sealed class HealthCertificateSigners
{
    private Built? _built;

    public HealthCertificateSigner For(FabricKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var built = Volatile.Read(ref _built);
        if (built is not null && ReferenceEquals(built.Key, key))
        {
            return built.Signer;
        }

        var signer = new HealthCertificateSigner(key.Certificate, key.ECDsa);
        Volatile.Write(ref _built, new Built(key, signer));
        return signer;
    }

    private sealed record Built(FabricKey Key, HealthCertificateSigner Signer);
}
