using System.Security.Cryptography.X509Certificates;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Targets;

/// <summary>
/// A TPM manufacturer's CRL as an admin imports it (design change 69): parse, look a serial number up, and verify the
/// signature with an ECDSA issuer's key (the seeds are signed by other keys, so this reaches the verification, which
/// answers false and never throws).
/// </summary>
public sealed class TpmCrlTarget : FuzzTarget<RevocationListException>
{
    private static readonly X509Certificate2 Issuer = X509CertificateLoader.LoadCertificate(HealthCertificateTarget.Signer);

    public override string Name => "tpm-crl";

    public override string Description => "RevocationList.Parse + Find + SignatureVerifies; refusal: RevocationListException";

    protected override void Run(ReadOnlySpan<byte> input)
    {
        var crl = RevocationList.Parse(input.ToArray());
        crl.Find([0x01, 0x23, 0x45, 0x67, 0x89]);
        _ = crl.NumberText;
        crl.IsIssuedBy(Issuer);
        crl.SignatureVerifies(Issuer);
    }
}
