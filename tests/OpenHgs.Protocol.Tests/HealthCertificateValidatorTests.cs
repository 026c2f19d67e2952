using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

/// <summary>
/// The validator remembers certificates that passed every time-independent check; these tests pin that a remembered
/// certificate is still refused for time and deny-date reasons, and that the memory never outlives a signer set.
/// </summary>
public sealed class HealthCertificateValidatorTests : IDisposable
{
    private static readonly DateTimeOffset IssuedAt = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Validity = TimeSpan.FromHours(8);

    private readonly ECDsa _signerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _signer;
    private readonly byte[] _certificate;

    public HealthCertificateValidatorTests()
    {
        _signer = SelfSigned("CN=attestation signer", _signerKey);
        _certificate = Issue(_signer, _signerKey);
    }

    [Fact]
    public void A_valid_certificate_validates_again_with_the_same_answer()
    {
        var validator = new HealthCertificateValidator([_signer.RawData]);
        var first = validator.Validate(_certificate, IssuedAt.AddMinutes(1), null);
        var second = validator.Validate(_certificate, IssuedAt.AddMinutes(2), null);
        Assert.Equal("host-1", first.Claims.HostName);
        Assert.Equal(first.SerialNumber, second.SerialNumber);
        Assert.Equal(first.HostEncryptionPublicKey, second.HostEncryptionPublicKey);
        Assert.Equal(IssuedAt + Validity, second.NotAfter);
    }

    [Fact]
    public void A_remembered_certificate_is_still_refused_once_expired_or_before_its_validity()
    {
        var validator = new HealthCertificateValidator([_signer.RawData]);
        validator.Validate(_certificate, IssuedAt.AddMinutes(1), null);

        var expired = Assert.Throws<HealthCertificateException>(() => validator.Validate(_certificate, IssuedAt + Validity + TimeSpan.FromSeconds(1), null));
        Assert.Equal(HealthCertificateError.Expired, expired.Error);
        var early = Assert.Throws<HealthCertificateException>(() => validator.Validate(_certificate, IssuedAt - HealthCertificateProfile.NotBeforeSkew - TimeSpan.FromSeconds(1), null));
        Assert.Equal(HealthCertificateError.NotYetValid, early.Error);
    }

    [Fact]
    public void A_remembered_certificate_is_refused_after_a_later_deny_date()
    {
        var validator = new HealthCertificateValidator([_signer.RawData]);
        validator.Validate(_certificate, IssuedAt.AddMinutes(1), IssuedAt.AddMinutes(-1));

        var denied = Assert.Throws<HealthCertificateException>(() => validator.Validate(_certificate, IssuedAt.AddMinutes(2), IssuedAt.AddMinutes(1)));
        Assert.Equal(HealthCertificateError.IssuedBeforeDenyDate, denied.Error);
    }

    [Fact]
    public void A_validator_for_other_signers_does_not_inherit_what_another_remembered()
    {
        new HealthCertificateValidator([_signer.RawData]).Validate(_certificate, IssuedAt.AddMinutes(1), null);

        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = SelfSigned("CN=attestation signer", otherKey); // same name, different key
        var refused = Assert.Throws<HealthCertificateException>(() => new HealthCertificateValidator([other.RawData]).Validate(_certificate, IssuedAt.AddMinutes(1), null));
        Assert.Equal(HealthCertificateError.UntrustedSigner, refused.Error);
    }

    [Fact]
    public void A_certificate_with_one_flipped_signature_byte_is_refused_after_the_original_was_accepted()
    {
        var validator = new HealthCertificateValidator([_signer.RawData]);
        validator.Validate(_certificate, IssuedAt.AddMinutes(1), null);
        byte[] tampered = (byte[])_certificate.Clone();
        tampered[^5] ^= 0x01; // inside the signature value at the end of the DER
        var refused = Assert.Throws<HealthCertificateException>(() => validator.Validate(tampered, IssuedAt.AddMinutes(1), null));
        Assert.True(refused.Error is HealthCertificateError.UntrustedSigner or HealthCertificateError.Malformed, refused.Error.ToString());
    }

    public void Dispose()
    {
        _signer.Dispose();
        _signerKey.Dispose();
    }

    private static X509Certificate2 SelfSigned(string subject, ECDsa key)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(IssuedAt.AddDays(-1), IssuedAt.AddYears(1));
    }

    private static byte[] Issue(X509Certificate2 signer, ECDsa key)
    {
        var claims = new HealthClaims(AttestationMode.HostKey, 3, SHA256.HashData("evidence"u8), "host-1", IssuedAt);
        using var hostKey = TestKeys.Next();
        return HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, hostKey.ExportSubjectPublicKeyInfo(), Validity), new HealthCertificateSigner(signer, key));
    }
}
