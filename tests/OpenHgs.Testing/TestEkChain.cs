using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Testing;

/// <summary>
/// A TPM manufacturer's PKI for EK tests without a TPM: an ECDSA P-256 root, an RSA intermediate and an EK certificate
/// for an RSA EK (<see cref="Ek"/>), with CRLs of either CA (design change 69). The two CAs use the two signature families
/// a CRL is verified with.
/// </summary>
public sealed class TestEkChain : IDisposable
{
    /// <summary>The EK certificate's serial number.</summary>
    public static readonly byte[] EkSerial = [0x01, 0x23, 0x45, 0x67, 0x89];

    /// <summary>The intermediate's serial number.</summary>
    public static readonly byte[] IntermediateSerial = [0x42, 0x42];

    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly RSA _ekKey = RSA.Create(2048);

    public TestEkChain(string name = "CRL Test TPM")
    {
        var now = DateTimeOffset.UtcNow;
        var rsa = TpmTemplates.EkRsa2048.Rsa!;
        Ek = TpmTemplates.EkRsa2048 with { Parameters = rsa with { Modulus = _ekKey.ExportParameters(false).Modulus! } };
        var rootRequest = new CertificateRequest($"CN={name} Root", _rootKey, HashAlgorithmName.SHA256);
        CaExtensions(rootRequest);
        Root = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(2));
        var intermediateRequest = new CertificateRequest($"CN={name} Intermediate", IntermediateKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        CaExtensions(intermediateRequest);
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using (var issued = intermediateRequest.Create(Root.SubjectName, X509SignatureGenerator.CreateForECDsa(_rootKey), now.AddDays(-1), now.AddYears(1), IntermediateSerial))
        {
            Intermediate = X509CertificateLoader.LoadCertificate(issued.RawData);
        }

        var ekRequest = new CertificateRequest("", _ekKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        ekRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        ekRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Intermediate, true, false));
        using var ek = ekRequest.Create(Intermediate.SubjectName, X509SignatureGenerator.CreateForRSA(IntermediateKey, RSASignaturePadding.Pkcs1),
            now.AddHours(-1), now.AddMonths(6), EkSerial);
        EkCertificate = ek.RawData;
    }

    /// <summary>The EK the certificate certifies (RSA 2048, the TCG default template).</summary>
    public TpmtPublic Ek { get; }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    /// <summary>The intermediate's key (what signs the EK certificate and the intermediate's CRLs).</summary>
    public RSA IntermediateKey { get; } = RSA.Create(2048);

    /// <summary>The EK certificate (DER).</summary>
    public byte[] EkCertificate { get; }

    /// <summary>Another certificate of the intermediate CA, as a renewal issues it: same name and key, a random serial.</summary>
    public X509Certificate2 RenewIntermediate()
    {
        var now = DateTimeOffset.UtcNow;
        var request = new CertificateRequest(Intermediate.SubjectName, IntermediateKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        CaExtensions(request);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using var issued = request.Create(Root.SubjectName, X509SignatureGenerator.CreateForECDsa(_rootKey), now.AddMinutes(-30), now.AddYears(2), [0x42, .. RandomNumberGenerator.GetBytes(8)]);
        return X509CertificateLoader.LoadCertificate(issued.RawData);
    }

    /// <summary>A certificate of this chain's EK issued by <paramref name="other"/>'s intermediate (a CA not registered where only this chain is).</summary>
    public byte[] EkCertificateIssuedBy(TestEkChain other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var now = DateTimeOffset.UtcNow;
        var request = new CertificateRequest("", _ekKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(other.Intermediate, true, false));
        using var issued = request.Create(other.Intermediate.SubjectName, X509SignatureGenerator.CreateForRSA(other.IntermediateKey, RSASignaturePadding.Pkcs1),
            now.AddHours(-1), now.AddMonths(6), EkSerial);
        return issued.RawData;
    }

    /// <summary>The intermediate's CRL revoking <paramref name="serials"/>, valid from an hour ago for a week unless told.</summary>
    public byte[] IntermediateCrl(BigInteger number, byte[][] serials, DateTimeOffset? thisUpdate = null, DateTimeOffset? nextUpdate = null) =>
        TestCrl.Build(Intermediate, IntermediateKey, number, serials, thisUpdate ?? DateTimeOffset.UtcNow.AddHours(-1), nextUpdate ?? DateTimeOffset.UtcNow.AddDays(7));

    /// <summary>The root's CRL revoking <paramref name="serials"/>.</summary>
    public byte[] RootCrl(BigInteger number, byte[][] serials) =>
        TestCrl.Build(Root, _rootKey, number, serials, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7));

    private static void CaExtensions(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
    }

    public void Dispose()
    {
        Root.Dispose();
        Intermediate.Dispose();
        _rootKey.Dispose();
        IntermediateKey.Dispose();
        _ekKey.Dispose();
    }
}
