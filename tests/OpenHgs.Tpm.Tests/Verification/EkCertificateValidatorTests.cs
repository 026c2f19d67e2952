using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Verification;

/// <summary>
/// EK certificate rules beyond the chain: the extended key usage, when present, names tcg-kp-EKCertificate; a CA of the
/// chain carries no critical extension the validator does not process. Certificates are made by .NET CertificateRequest.
/// </summary>
public sealed class EkCertificateValidatorTests : IDisposable
{
    private const string UnknownExtensionOid = "1.3.6.1.4.1.55555.1.1";
    private readonly RSA _rootKey = RSA.Create(2048);
    private readonly RSA _ekKey = RSA.Create(2048);
    private readonly TpmtPublic _ek;

    public EkCertificateValidatorTests()
    {
        var rsa = TpmTemplates.EkRsa2048.Rsa!;
        _ek = TpmTemplates.EkRsa2048 with { Parameters = rsa with { Modulus = _ekKey.ExportParameters(false).Modulus! } };
    }

    [Fact]
    public void Ek_certificate_with_the_tcg_usage_chaining_to_the_root_is_accepted()
    {
        using var root = Root();
        var result = Validate(root, Ek(root, new OidCollection { new Oid(EkCertificateValidator.EkCertificateUsageOid) }));
        Assert.True(result.Succeeded, result.Detail);
    }

    [Fact]
    public void Ek_certificate_without_an_extended_key_usage_is_accepted()
    {
        using var root = Root();
        var result = Validate(root, Ek(root, usages: null));
        Assert.True(result.Succeeded, result.Detail);
    }

    [Fact]
    [Trait("Attack", "A66")]
    public void Ek_certificate_with_another_usage_is_refused_by_name()
    {
        using var root = Root();
        var result = Validate(root, Ek(root, new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }));
        Assert.Equal(EkCertificateFailure.WrongExtendedKeyUsage, result.Failure);
        Assert.Contains("1.3.6.1.5.5.7.3.1", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A66")]
    public void Ca_with_an_unknown_critical_extension_is_refused_by_name()
    {
        using var root = Root(new X509Extension(UnknownExtensionOid, [0x05, 0x00], critical: true));
        var result = Validate(root, Ek(root, new OidCollection { new Oid(EkCertificateValidator.EkCertificateUsageOid) }));
        Assert.Equal(EkCertificateFailure.UnsupportedCriticalExtension, result.Failure);
        Assert.Contains(UnknownExtensionOid, result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Ca_with_the_same_extension_not_critical_is_accepted()
    {
        using var root = Root(new X509Extension(UnknownExtensionOid, [0x05, 0x00], critical: false));
        var result = Validate(root, Ek(root, usages: null));
        Assert.True(result.Succeeded, result.Detail);
    }

    [Fact]
    public void Ek_certificate_itself_may_carry_critical_tcg_extensions()
    {
        // TCG EK certificates mark subjectDirectoryAttributes (TPM specification) critical; only CAs are held to the list.
        using var root = Root();
        var result = Validate(root, Ek(root, usages: null, new X509Extension("2.5.29.9", [0x30, 0x00], critical: true)));
        Assert.True(result.Succeeded, result.Detail);
    }

    private EkCertificateResult Validate(X509Certificate2 root, byte[] ekDer) =>
        EkCertificateValidator.Validate(ekDer, _ek, [root], now: DateTimeOffset.UtcNow);

    private X509Certificate2 Root(X509Extension? extra = null)
    {
        var request = new CertificateRequest("CN=Test TPM Vendor Root", _rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        if (extra is not null)
        {
            request.CertificateExtensions.Add(extra);
        }
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
    }

    private byte[] Ek(X509Certificate2 root, OidCollection? usages, X509Extension? extra = null)
    {
        var request = new CertificateRequest("", _ekKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        if (usages is not null)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, critical: false));
        }
        if (extra is not null)
        {
            request.CertificateExtensions.Add(extra);
        }
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.Create(root.SubjectName, X509SignatureGenerator.CreateForRSA(_rootKey, RSASignaturePadding.Pkcs1),
            now.AddHours(-1), now.AddMonths(6), [1, 2, 3, 4, 5, 6, 7, 8]);
        return certificate.RawData;
    }

    public void Dispose()
    {
        _rootKey.Dispose();
        _ekKey.Dispose();
    }
}
