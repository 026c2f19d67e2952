using System.Formats.Asn1;
using System.Security.Cryptography;
using OpenHgs.Service.Hosts;

namespace OpenHgs.Service.Tests.Hosts;

public sealed class HostKeysTests
{
    [Fact]
    public void Pem_and_base64_der_parse_to_the_same_key()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] fromPem = HostKeys.ParsePublicKey(key.ExportSubjectPublicKeyInfoPem(), "publicKey");
        byte[] fromDer = HostKeys.ParsePublicKey(Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()), "publicKey");
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), fromPem);
        Assert.Equal(fromPem, fromDer);
    }

    [Theory]
    [InlineData("not base64!", "PublicKeyMalformed")]
    [InlineData("AAAA", "PublicKeyMalformed")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "PublicKeyMalformed")]
    public void Bad_keys_are_refused_with_a_reason(string text, string code)
    {
        var error = Assert.Throws<ServiceException>(() => HostKeys.ParsePublicKey(text, "publicKey"));
        Assert.Equal(code, error.Code);
        Assert.StartsWith("publicKey:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Short_rsa_keys_are_refused_naming_their_size()
    {
        using var weak = RSA.Create(1024);
        var error = Assert.Throws<ServiceException>(() => HostKeys.ParsePublicKey(weak.ExportSubjectPublicKeyInfoPem(), "publicKey"));
        Assert.Equal("PublicKeyUnsupported", error.Code);
        Assert.Equal("publicKey: RSA keys must be at least 2048 bits, not 1024.", error.Message);
    }

    [Fact]
    public void Encryption_keys_must_be_rsa()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var error = Assert.Throws<ServiceException>(() => HostKeys.Validate(ec.ExportSubjectPublicKeyInfo(), "encryptionPublicKey", forSigning: false));
        Assert.Equal("PublicKeyUnsupported", error.Code);
    }

    [Fact]
    public void Signatures_verify_only_with_the_signing_key_and_message()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rsa = RSA.Create(2048);
        byte[] message = RandomNumberGenerator.GetBytes(64);
        byte[] ecSignature = ec.SignData(message, HashAlgorithmName.SHA256);
        byte[] rsaSignature = rsa.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Assert.True(HostKeys.VerifySignature(ec.ExportSubjectPublicKeyInfo(), message, ecSignature));
        Assert.True(HostKeys.VerifySignature(rsa.ExportSubjectPublicKeyInfo(), message, rsaSignature));
        Assert.False(HostKeys.VerifySignature(rsa.ExportSubjectPublicKeyInfo(), message, ecSignature));
        message[0] ^= 1;
        Assert.False(HostKeys.VerifySignature(ec.ExportSubjectPublicKeyInfo(), message, ecSignature));
    }

    // Curves are judged by the OID the SubjectPublicKeyInfo names, not by key size: every curve here is 256 or 384 bits,
    // the sizes of P-256 and P-384 (design change 61).
    [Theory]
    [InlineData("1.3.132.0.10", "secp256k1")]
    [InlineData("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1")]
    [InlineData("1.3.36.3.3.2.8.1.1.11", "brainpoolP384r1")]
    public void EC_keys_on_other_curves_of_the_same_size_are_refused_naming_the_curve(string oid, string name)
    {
        using var key = ECDsa.Create(ECCurve.CreateFromValue(oid));
        Assert.True(key.KeySize is 256 or 384); // the size the old check accepted

        var error = Assert.Throws<ServiceException>(() => HostKeys.ParsePublicKey(key.ExportSubjectPublicKeyInfoPem(), "hostKey"));
        Assert.Equal("PublicKeyUnsupported", error.Code);
        Assert.Equal($"hostKey: EC keys must be on P-256 or P-384, not {oid} ({name}).", error.Message);
    }

    [Fact]
    public void P256_with_explicit_curve_parameters_is_refused()
    {
        using var named = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var explicitKey = ECDsa.Create();
        explicitKey.ImportParameters(named.ExportExplicitParameters(includePrivateParameters: false));
        byte[] spki = explicitKey.ExportSubjectPublicKeyInfo();
        Assert.NotEqual(named.ExportSubjectPublicKeyInfo(), spki); // the SEQUENCE of parameters, not the OID

        var error = Assert.Throws<ServiceException>(() => HostKeys.Validate(spki, "hostKey", forSigning: true));
        Assert.Equal("PublicKeyUnsupported", error.Code);
        Assert.Contains("explicit", error.Message, StringComparison.Ordinal);

        // Nor does it verify: a signature by the same key is refused under the explicit encoding.
        byte[] message = RandomNumberGenerator.GetBytes(64);
        byte[] signature = named.SignData(message, HashAlgorithmName.SHA256);
        Assert.True(HostKeys.VerifySignature(named.ExportSubjectPublicKeyInfo(), message, signature));
        Assert.False(HostKeys.VerifySignature(spki, message, signature));
    }

    [Theory]
    [InlineData("1.2.840.10045.3.1.7", "SHA256")]
    [InlineData("1.3.132.0.34", "SHA384")]
    public void P256_and_P384_keys_are_accepted_and_verify_with_their_curves_hash(string oid, string hash)
    {
        using var key = ECDsa.Create(ECCurve.CreateFromValue(oid));
        byte[] spki = HostKeys.ParsePublicKey(key.ExportSubjectPublicKeyInfoPem(), "hostKey");
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), spki);

        byte[] message = RandomNumberGenerator.GetBytes(64);
        Assert.True(HostKeys.VerifySignature(spki, message, key.SignData(message, new HashAlgorithmName(hash))));
        string other = hash == "SHA256" ? "SHA384" : "SHA256";
        Assert.False(HostKeys.VerifySignature(spki, message, key.SignData(message, new HashAlgorithmName(other))));
    }

    [Theory]
    [InlineData("1.3.132.0.10", "SHA256")]
    [InlineData("1.3.36.3.3.2.8.1.1.7", "SHA256")]
    [InlineData("1.3.36.3.3.2.8.1.1.11", "SHA384")]
    public void Valid_signatures_by_keys_on_other_curves_do_not_verify(string oid, string hash)
    {
        using var key = ECDsa.Create(ECCurve.CreateFromValue(oid));
        byte[] message = RandomNumberGenerator.GetBytes(64);
        byte[] signature = key.SignData(message, new HashAlgorithmName(hash));
        Assert.True(key.VerifyData(message, signature, new HashAlgorithmName(hash))); // a genuine signature

        Assert.False(HostKeys.VerifySignature(key.ExportSubjectPublicKeyInfo(), message, signature));
    }

    [Theory]
    [InlineData(null, "hostKey: EC keys must be on P-256 or P-384, not explicit or implicit curve parameters (a named curve is required).")]
    [InlineData("1.2.3.4", "hostKey: EC keys must be on P-256 or P-384, not 1.2.3.4.")]
    public void Curves_that_do_not_import_are_still_refused_by_what_the_der_names(string? curve, string message)
    {
        // implicitCurve (NULL) and an unknown OID: the refusal names them instead of calling the key malformed.
        var error = Assert.Throws<ServiceException>(() => HostKeys.Validate(EcSpki(curve), "hostKey", forSigning: true));
        Assert.Equal("PublicKeyUnsupported", error.Code);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void A_long_curve_oid_is_cut_in_the_message()
    {
        // 52 arcs, 303 characters (the DER reader takes at most 64 arcs).
        string oid = "1.2." + string.Join('.', Enumerable.Repeat("99999", 50));
        var error = Assert.Throws<ServiceException>(() => HostKeys.Validate(EcSpki(oid), "hostKey", forSigning: true));
        Assert.Equal("PublicKeyUnsupported", error.Code);
        Assert.EndsWith("….", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Length < 150, error.Message);
    }

    /// <summary>An id-ecPublicKey SPKI with a P-256 point and the given curve OID, or NULL parameters for null.</summary>
    private static byte[] EcSpki(string? curve)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var point = key.ExportParameters(false).Q;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier("1.2.840.10045.2.1");
                if (curve is null)
                {
                    writer.WriteNull();
                }
                else
                {
                    writer.WriteObjectIdentifier(curve);
                }
            }

            writer.WriteBitString([0x04, .. point.X!, .. point.Y!]);
        }

        return writer.Encode();
    }
}
