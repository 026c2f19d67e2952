using System.Security.Cryptography;
using System.Text;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

/// <summary>
/// Key protector version 2: a key protection service with an EC P-256 signing key rolls key protectors with an ES256
/// guardian signature (r‖s, 64 bytes); RS256 ones stay version 1.
/// </summary>
public sealed class KeyProtectorEs256Tests
{
    private static readonly Lazy<EcFabric> LazyFabric = new(() => EcFabric.Create("EC Fabric"));

    private static LocalGuardian Owner => TestGuardians.Owner;

    private static EcFabric Fabric => LazyFabric.Value;

    [Fact]
    public void A_guardian_with_an_ec_p256_signing_key_is_valid_metadata()
    {
        Fabric.Metadata.Validate();
        Assert.Equal(Fabric.Metadata.SigningCertificate, GuardianMetadata.Parse(Fabric.Metadata.ToJson()).SigningCertificate);
    }

    [Fact]
    public void Other_curves_are_refused_as_signing_keys()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Assert.Throws<ArgumentException>(() => GuardianCertificates.Issue("P384 Fabric", p384, TestKeys.Next(), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1)));
    }

    [Theory]
    [InlineData("1.3.132.0.10")] // secp256k1
    [InlineData("1.3.36.3.3.2.8.1.1.7")] // brainpoolP256r1
    public void SignGuardian_refuses_a_256_bit_key_on_another_curve_than_p256(string curveOid)
    {
        // Each is a 256-bit key — what the old KeySize check took for P-256 — and ES256 would then have named a curve
        // it is not on. The curve its public key names decides (design change 61).
        using var key = ECDsa.Create(ECCurve.CreateFromValue(curveOid));
        Assert.Equal(256, key.KeySize);
        var ex = Assert.Throws<ArgumentException>(() => KeyProtectorCrypto.SignGuardian(key, [1, 2, 3]));
        Assert.Equal("key", ex.ParamName);
        Assert.StartsWith("A guardian signing key is RSA (RS256) or EC P-256 (ES256).", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SignGuardian_refuses_p384()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => KeyProtectorCrypto.SignGuardian(key, [1, 2, 3])).ParamName);
    }

    [Fact]
    public void SignGuardian_signs_es256_with_a_p256_key_in_memory_and_in_a_key_store()
    {
        byte[] data = Encoding.UTF8.GetBytes("payload");
        string directory = Directory.CreateTempSubdirectory("openhgs-sign-guardian-").FullName;
        try
        {
            using var store = new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(directory, Production: false));
            using var stored = new KeyStoreECDsa(store, store.CreateKey(new CreateKeyRequest("openhgs-kps-sign-test", KeyAlgorithm.EcP256, KeyUsage.Sign)));
            using var inMemory = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            foreach (var key in new ECDsa[] { inMemory, stored })
            {
                var (algorithm, value) = KeyProtectorCrypto.SignGuardian(key, data);
                Assert.Equal(KeyProtectorAlgorithms.ES256, algorithm);
                Assert.Equal(KeyProtectorAlgorithms.Es256Bytes, value.Length);
                Assert.True(key.VerifyData(data, value, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void An_es256_roll_round_trips_as_version_2_and_back_to_version_1_under_rsa()
    {
        var (kp, wrapping) = KeyProtectorFor(Fabric);
        byte[] newKey = TestGuardians.NewTransportKey();

        var rolled = KeyProtectorBuilder.Roll(kp, newKey, Fabric.SigningKey, wrapping.Id);

        Assert.Equal(2, rolled.Version);
        Assert.Equal(KeyProtectorAlgorithms.ES256, rolled.GuardianSignature.Algorithm);
        Assert.Equal(KeyProtectorAlgorithms.Es256Bytes, rolled.GuardianSignature.Value.Length);
        Assert.Contains("\"version\": 2", Encoding.UTF8.GetString(rolled.ToJson()), StringComparison.Ordinal);
        var parsed = KeyProtector.Parse(rolled.ToJson());
        KeyProtectorVerifier.VerifySignatures(parsed);
        KeyProtectorVerifier.VerifyTransportKey(parsed, newKey);
        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapAsOwner(parsed, Owner));
        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapTransportKey(parsed, parsed.FindWrapping(wrapping.Id)!, Fabric.EncryptionKey));
        var fabricA = parsed.FindWrappingForGuardian("Fabric A")!;
        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapTransportKey(parsed, fabricA, TestGuardians.FabricA.EncryptionKey));

        // The owner's own operations on it, and a roll by an RSA fabric, are RS256 again: version 1.
        var granted = KeyProtectorBuilder.Grant(parsed, Owner, TestGuardians.FabricB.Metadata);
        Assert.Equal(1, granted.Version);
        var rsaRolled = KeyProtectorBuilder.Roll(parsed, TestGuardians.NewTransportKey(), TestGuardians.FabricA.SigningKey, fabricA.Id);
        Assert.Equal(1, rsaRolled.Version);
        Assert.Equal(KeyProtectorAlgorithms.RS256, rsaRolled.GuardianSignature.Algorithm);
        Assert.Contains("\"version\": 1", Encoding.UTF8.GetString(rsaRolled.ToJson()), StringComparison.Ordinal);
    }

    [Fact]
    public void A_tampered_es256_signature_is_refused()
    {
        var rolled = Rolled();
        foreach (int index in new[] { 0, 31, 32, 63 })
        {
            var tampered = Reseal(rolled, rolled.GuardianSignature with { Value = Forge.Flip(rolled.GuardianSignature.Value, index) });
            Assert.Equal(KeyProtectorError.GuardianSignatureInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorVerifier.VerifySignatures(tampered)).Error);
        }

        // Another payload under the same valid signature.
        var wrappings = rolled.Wrappings.Reverse().ToList();
        byte[] payload = Forge.WritePayload(wrappings);
        var swapped = KeyProtector.Parse(Forge.Envelope(payload, rolled.GuardianSignature, rolled.TransportKeySignature, version: 2));
        Assert.Equal(KeyProtectorError.GuardianSignatureInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorVerifier.VerifySignatures(swapped)).Error);
    }

    [Fact]
    public void A_der_encoded_ecdsa_signature_is_not_es256()
    {
        var rolled = Rolled();
        var signature = Fabric.SigningKey.SignData(rolled.Payload.Span, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        byte[] json = Forge.Envelope(rolled.Payload.Span, rolled.GuardianSignature with { Value = signature }, rolled.TransportKeySignature, version: 2);
        Assert.Equal(KeyProtectorError.Malformed, Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(json)).Error);
    }

    [Fact]
    public void The_algorithm_must_match_the_signing_key_type()
    {
        var (kp, wrapping) = KeyProtectorFor(Fabric);
        byte[] payload = kp.Payload.ToArray();

        // ES256 naming an RSA wrapping (the owner): refused for the mismatch, not as a bad signature.
        var es256ByRsaWrapping = Reseal(kp, new KeyProtectorSignature(kp.Owner.Id, KeyProtectorAlgorithms.ES256, Fabric.SigningKey.SignData(payload, HashAlgorithmName.SHA256)), version: 2);
        var ex = Assert.Throws<KeyProtectorException>(() => KeyProtectorVerifier.VerifySignatures(es256ByRsaWrapping));
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, ex.Error);
        Assert.Contains(kp.Owner.Id, ex.Message, StringComparison.Ordinal);

        // RS256 naming the EC wrapping.
        var rs256ByEcWrapping = Reseal(kp, new KeyProtectorSignature(wrapping.Id, KeyProtectorAlgorithms.RS256, Owner.SigningKey.SignData(payload, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
        ex = Assert.Throws<KeyProtectorException>(() => KeyProtectorVerifier.VerifySignatures(rs256ByEcWrapping));
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, ex.Error);
        Assert.Contains(wrapping.Id, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(65)]
    [InlineData(128)]
    public void An_es256_value_of_the_wrong_length_is_refused_at_parse(int length)
    {
        var rolled = Rolled();
        byte[] json = Forge.Envelope(rolled.Payload.Span, rolled.GuardianSignature with { Value = RandomNumberGenerator.GetBytes(length) }, rolled.TransportKeySignature, version: 2);
        Assert.Equal(KeyProtectorError.Malformed, Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(json)).Error);
    }

    [Fact]
    public void The_version_and_the_signature_algorithm_must_agree()
    {
        var rolled = Rolled();
        byte[] es256InVersion1 = Forge.Envelope(rolled.Payload.Span, rolled.GuardianSignature, rolled.TransportKeySignature, version: 1);
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(es256InVersion1)).Error);

        var (kp, _) = TestGuardians.NewKeyProtector();
        byte[] rs256InVersion2 = Forge.Envelope(kp.Payload.Span, kp.GuardianSignature, kp.TransportKeySignature, version: 2);
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(rs256InVersion2)).Error);

        byte[] version3 = Forge.Envelope(rolled.Payload.Span, rolled.GuardianSignature, rolled.TransportKeySignature, version: 3);
        Assert.Equal(KeyProtectorError.UnsupportedVersion, Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(version3)).Error);
    }

    [Fact]
    public void An_ec_signing_key_cannot_endorse()
    {
        // A wrapping whose parent is the EC fabric's: endorsements are RS256 by RSA keys only.
        var (kp, ecWrapping) = KeyProtectorFor(Fabric);
        byte[] transportKey = TestGuardians.NewTransportKey();
        var child = Forge.Wrapping(Forge.NewId(), ecWrapping.Id, TestGuardians.FabricB.Metadata, Owner.SigningKey, transportKey);
        var forged = Forge.Seal([.. kp.Wrappings, child], Owner.SigningKey, kp.Owner.Id, transportKey);

        var ex = Assert.Throws<KeyProtectorException>(() => KeyProtectorVerifier.VerifySignatures(forged));
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, ex.Error);
        Assert.Contains(child.Id, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Roll_refuses_an_ec_key_that_is_not_the_named_wrappings()
    {
        var (kp, wrapping) = KeyProtectorFor(Fabric);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(kp, TestGuardians.NewTransportKey(), other, wrapping.Id)).Error);
        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(kp, TestGuardians.NewTransportKey(), Fabric.SigningKey, kp.Owner.Id)).Error);
    }

    [Fact]
    public void Roll_does_not_verify_an_already_verified_key_protector_again_but_verifies_an_unverified_one()
    {
        var (kp, wrapping) = KeyProtectorFor(Fabric);
        var parsed = KeyProtector.Parse(kp.ToJson());
        Assert.False(parsed.SignaturesVerified);
        KeyProtectorVerifier.VerifySignatures(parsed);
        Assert.True(parsed.SignaturesVerified);

        var rolled = KeyProtectorBuilder.Roll(parsed, TestGuardians.NewTransportKey(), Fabric.SigningKey, wrapping.Id);
        Assert.True(rolled.SignaturesVerified);

        // A fresh, unverified instance with a broken endorsement is still refused by Roll.
        var broken = KeyProtector.Parse(Forge.SealJson(
            kp.Wrappings.Select(w => w.Id == wrapping.Id ? w with { Endorsement = w.Endorsement with { Value = Forge.Flip(w.Endorsement.Value, 5) } } : w),
            Owner.SigningKey, kp.Owner.Id, TestGuardians.NewTransportKey()));
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(broken, TestGuardians.NewTransportKey(), Fabric.SigningKey, wrapping.Id)).Error);
    }

    private static (KeyProtector Kp, KeyProtectorWrapping Wrapping) KeyProtectorFor(EcFabric fabric)
    {
        var kp = KeyProtectorBuilder.Create(Owner, [TestGuardians.FabricA.Metadata, fabric.Metadata], TestGuardians.NewTransportKey());
        return (kp, kp.FindWrappingForEncryptionCertificate(fabric.Metadata.EncryptionCertificate)!);
    }

    private static KeyProtector Rolled()
    {
        var (kp, wrapping) = KeyProtectorFor(Fabric);
        return KeyProtectorBuilder.Roll(kp, TestGuardians.NewTransportKey(), Fabric.SigningKey, wrapping.Id);
    }

    private static KeyProtector Reseal(KeyProtector kp, KeyProtectorSignature guardianSignature, int? version = null) =>
        KeyProtector.Parse(Forge.Envelope(kp.Payload.Span, guardianSignature, kp.TransportKeySignature, version ?? KeyProtector.VersionFor(guardianSignature.Algorithm)));

    /// <summary>A key protection service guardian with an EC P-256 signing key and an RSA encryption key.</summary>
    private sealed record EcFabric(GuardianMetadata Metadata, ECDsa SigningKey, RSA EncryptionKey)
    {
        public static EcFabric Create(string name)
        {
            var signingKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var encryptionKey = TestKeys.Next();
            var now = DateTimeOffset.UtcNow;
            var (signing, encryption) = GuardianCertificates.Issue(name, signingKey, encryptionKey, now.AddMinutes(-5), now.AddYears(1));
            return new EcFabric(new GuardianMetadata(name, signing, encryption, [KeyProtectorAlgorithms.RsaOaep256, KeyProtectorAlgorithms.RsaOaep]), signingKey, encryptionKey);
        }
    }
}
