using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

/// <summary>Every change to a key protector by someone without the owner's key is caught, with the right reason.</summary>
public sealed class KeyProtectorTamperTests
{
    private static readonly Lazy<(KeyProtector Kp, byte[] TransportKey)> Shared = new(TestGuardians.NewKeyProtector);

    private static KeyProtector Kp => Shared.Value.Kp;

    private static byte[] TransportKey => Shared.Value.TransportKey;

    /// <summary>Runs everything a key protection service would; returns the first refusal, or null if accepted.</summary>
    private static KeyProtectorError? Check(byte[] json, byte[] transportKey)
    {
        try
        {
            var kp = KeyProtector.Parse(json);
            KeyProtectorVerifier.VerifySignatures(kp);
            KeyProtectorVerifier.VerifyTransportKey(kp, transportKey);
            return null;
        }
        catch (KeyProtectorException ex)
        {
            return ex.Error;
        }
    }

    [Fact]
    [Trait("Attack", "A43")]
    public void Flipping_payload_bytes_is_never_accepted()
    {
        // A two-wrapping protector keeps this affordable; every 3rd byte, alternating low and high bit flips.
        var kp = KeyProtectorBuilder.Create(TestGuardians.Owner, [TestGuardians.FabricA.Metadata], TransportKey);
        byte[] payload = kp.Payload.ToArray();
        var seen = new HashSet<KeyProtectorError>();
        for (int i = 0; i < payload.Length; i += 3)
        {
            byte mask = (i / 3 % 2 == 0) ? (byte)0x01 : (byte)0x80;
            byte[] json = Forge.Envelope(Forge.Flip(payload, i, mask), kp.GuardianSignature, kp.TransportKeySignature);
            var error = Check(json, TransportKey);
            Assert.True(error is not null, $"flipping payload byte {i} with {mask:X2} was accepted");
            seen.Add(error.Value);
        }

        // Most flips break the JSON or a certificate; those that still parse break a signature.
        Assert.Contains(KeyProtectorError.Malformed, seen);
        Assert.Contains(KeyProtectorError.GuardianSignatureInvalid, seen);
        Assert.Contains(KeyProtectorError.EndorsementInvalid, seen);
    }

    [Fact]
    public void Flipping_any_guardian_signature_byte_is_GuardianSignatureInvalid()
    {
        for (int i = 0; i < Kp.GuardianSignature.Value.Length; i++)
        {
            var signature = Kp.GuardianSignature with { Value = Forge.Flip(Kp.GuardianSignature.Value, i) };
            Assert.Equal(KeyProtectorError.GuardianSignatureInvalid, Check(Forge.Envelope(Kp.Payload.Span, signature, Kp.TransportKeySignature), TransportKey));
        }
    }

    [Fact]
    public void Flipping_any_transport_key_signature_byte_is_TransportKeySignatureInvalid()
    {
        for (int i = 0; i < Kp.TransportKeySignature.Value.Length; i++)
        {
            var mac = Kp.TransportKeySignature with { Value = Forge.Flip(Kp.TransportKeySignature.Value, i) };
            byte[] json = Forge.Envelope(Kp.Payload.Span, Kp.GuardianSignature, mac);
            Assert.Equal(KeyProtectorError.TransportKeySignatureInvalid, Check(json, TransportKey));
            var ex = Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.UnwrapAsOwner(KeyProtector.Parse(json), TestGuardians.Owner));
            Assert.Equal(KeyProtectorError.TransportKeySignatureInvalid, ex.Error);
        }
    }

    [Fact]
    public void The_wrong_transport_key_is_refused()
    {
        Assert.Equal(KeyProtectorError.TransportKeySignatureInvalid, Check(Kp.ToJson(), Forge.Flip(TransportKey, 31)));
        Assert.Equal(KeyProtectorError.TransportKeyInvalid, Check(Kp.ToJson(), TransportKey[..31]));
        Assert.Null(Check(Kp.ToJson(), TransportKey));
    }

    [Fact]
    public void Flipping_an_endorsement_byte_is_EndorsementInvalid()
    {
        // The genuine key protector verifies first, so its certificates and endorsements are memoised
        // (CertificateChecks); what is remembered must not vouch for the tampered copies below.
        KeyProtectorVerifier.VerifySignatures(Kp);
        for (int w = 0; w < Kp.Wrappings.Count; w++)
        {
            foreach (int i in new[] { 0, 1, 100, 255 })
            {
                var wrappings = Kp.Wrappings.ToList();
                wrappings[w] = wrappings[w] with { Endorsement = wrappings[w].Endorsement with { Value = Forge.Flip(wrappings[w].Endorsement.Value, i) } };

                // Endorsements are checked before the guardian signature, so this holds whether or not the payload is re-signed.
                byte[] payload = Forge.WritePayload(wrappings);
                Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.Envelope(payload, Kp.GuardianSignature, Kp.TransportKeySignature), TransportKey));
                Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson(wrappings, TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));
            }
        }
    }

    [Fact]
    public void Flipping_a_wrapped_key_byte_breaks_the_guardian_signature_or_the_unwrap()
    {
        var target = Kp.FindWrappingForGuardian("Fabric A")!;
        for (int i = 0; i < target.WrappedKey.Value.Length; i += 17)
        {
            var wrappings = Kp.Wrappings.Select(w => w.Id == target.Id ? w with { WrappedKey = w.WrappedKey with { Value = Forge.Flip(w.WrappedKey.Value, i) } } : w).ToList();

            // Without the signer's key: the payload no longer matches the guardian signature.
            Assert.Equal(KeyProtectorError.GuardianSignatureInvalid, Check(Forge.Envelope(Forge.WritePayload(wrappings), Kp.GuardianSignature, Kp.TransportKeySignature), TransportKey));

            // Even re-signed by a guardian, the damaged wrapping does not unwrap; the others still do.
            var resigned = Forge.Seal(wrappings, TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey);
            KeyProtectorVerifier.VerifySignatures(resigned);
            var ex = Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.UnwrapTransportKey(resigned, resigned.FindWrapping(target.Id)!, TestGuardians.FabricA.EncryptionKey));
            Assert.Equal(KeyProtectorError.TransportKeyInvalid, ex.Error);
            Assert.Equal(TransportKey, KeyProtectorBuilder.UnwrapAsOwner(resigned, TestGuardians.Owner));
        }
    }

    [Fact]
    public void A_wrapped_key_of_the_wrong_length_is_TransportKeyInvalid()
    {
        var wrappings = Kp.Wrappings.ToList();
        using var ownerEncryption = X509CertificateLoader.LoadCertificate(Kp.Owner.EncryptionCertificate);
        using var rsa = ownerEncryption.GetRSAPublicKey()!;
        wrappings[0] = wrappings[0] with { WrappedKey = new WrappedKey("RSA-OAEP-256", rsa.Encrypt(new byte[16], RSAEncryptionPadding.OaepSHA256)) };
        var kp = Forge.Seal(wrappings, TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey);

        Assert.Equal(KeyProtectorError.TransportKeyInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.UnwrapAsOwner(kp, TestGuardians.Owner)).Error);
    }

    [Fact]
    public void Swapping_in_a_foreign_encryption_certificate_is_caught()
    {
        // The genuine key protector verifies first, so its certificates and endorsements are memoised
        // (CertificateChecks); what is remembered must not vouch for the tampered copies below.
        KeyProtectorVerifier.VerifySignatures(Kp);
        var target = Kp.FindWrappingForGuardian("Fabric A")!;

        // A certificate the wrapping's signing key never signed.
        var foreign = Replace(target, target with { EncryptionCertificate = TestGuardians.Attacker.Metadata.EncryptionCertificate });
        Assert.Equal(KeyProtectorError.EncryptionCertificateNotSignedByGuardian, Check(Forge.SealJson(foreign, TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));

        // A certificate the guardian did sign (say, a key it lost), but not the one the owner endorsed.
        using var otherKey = TestKeys.Next();
        var (_, reissued) = Guardians.GuardianCertificates.Issue("Fabric A", TestGuardians.FabricA.SigningKey, otherKey, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        var swapped = Replace(target, target with { EncryptionCertificate = reissued });
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson(swapped, TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));
    }

    [Fact]
    public void A_small_rsa_key_in_a_wrapping_is_UnsupportedAlgorithm()
    {
        // Fabric A signs a certificate for a 1024-bit key, and the owner even endorses it: still refused.
        using var small = RSA.Create(1024);
        var fabricA = TestGuardians.FabricA;
        using var issuer = X509CertificateLoader.LoadCertificate(fabricA.Metadata.SigningCertificate);
        var request = new CertificateRequest("CN=Fabric A Encryption", small, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var weak = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForRSA(fabricA.SigningKey, RSASignaturePadding.Pkcs1), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1), [7, 7, 7]);
        var target = Kp.FindWrappingForGuardian("Fabric A")!;
        byte[] endorsed = KeyProtectorEndorsement.GetSignedBytes(target.Id, target.ParentId, target.GuardianName, target.SigningCertificate, weak.RawData);
        var replaced = target with
        {
            EncryptionCertificate = weak.RawData,
            Endorsement = target.Endorsement with { Value = TestGuardians.Owner.SigningKey.SignData(endorsed, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1) },
        };

        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, Check(Forge.SealJson(Replace(target, replaced), TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));
    }

    [Fact]
    public void Renaming_a_wrapping_is_EndorsementInvalid()
    {
        // The genuine key protector verifies first, so its certificates and endorsements are memoised
        // (CertificateChecks); what is remembered must not vouch for the tampered copies below.
        KeyProtectorVerifier.VerifySignatures(Kp);
        var target = Kp.FindWrappingForGuardian("Fabric B")!;
        var renamed = Replace(target, target with { GuardianName = "Fabric A" });

        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson(renamed, TestGuardians.FabricA.SigningKey, Kp.FindWrappingForGuardian("Fabric A")!.Id, TransportKey), TransportKey));
    }

    [Fact]
    public void A_guardian_added_without_the_owner_key_is_EndorsementInvalid()
    {
        // The attacker claims the owner as parent but can only sign with their own key...
        var inserted = Forge.Wrapping(Forge.NewId(), Kp.Owner.Id, TestGuardians.Attacker.Metadata, TestGuardians.Attacker.SigningKey, TransportKey);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson([.. Kp.Wrappings, inserted], TestGuardians.Attacker.SigningKey, inserted.Id, TransportKey), TransportKey));

        // ...even when it is a granted guardian doing it and signing the payload with its real key.
        var fabricA = Kp.FindWrappingForGuardian("Fabric A")!;
        var byFabric = Forge.Wrapping(Forge.NewId(), Kp.Owner.Id, TestGuardians.Attacker.Metadata, TestGuardians.FabricA.SigningKey, TransportKey);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson([.. Kp.Wrappings, byFabric], TestGuardians.FabricA.SigningKey, fabricA.Id, TransportKey), TransportKey));

        // An attacker who replaces the owner wrapping with their own self-endorsed one breaks every child's endorsement.
        var fakeOwner = Forge.Wrapping(Kp.Owner.Id, null, TestGuardians.Attacker.Metadata, TestGuardians.Attacker.SigningKey, TransportKey);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson(Replace(Kp.Owner, fakeOwner), TestGuardians.Attacker.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));
    }

    [Fact]
    public void A_guardian_signature_by_an_unendorsed_or_wrong_key_is_refused()
    {
        var fabricA = Kp.FindWrappingForGuardian("Fabric A")!;

        // Signed by the attacker's key but naming Fabric A's wrapping.
        Assert.Equal(KeyProtectorError.GuardianSignatureInvalid, Check(Forge.SealJson(Kp.Wrappings, TestGuardians.Attacker.SigningKey, fabricA.Id, TransportKey), TransportKey));

        // Naming a wrapping that does not exist.
        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, Check(Forge.SealJson(Kp.Wrappings, TestGuardians.Attacker.SigningKey, Forge.NewId(), TransportKey), TransportKey));

        // Signed by an endorsed guardian: accepted (this is what a roll looks like).
        Assert.Null(Check(Forge.SealJson(Kp.Wrappings, TestGuardians.FabricA.SigningKey, fabricA.Id, TransportKey), TransportKey));
    }

    [Fact]
    public void Dropping_the_owner_or_a_parent_breaks_the_structure()
    {
        var fabricA = Kp.FindWrappingForGuardian("Fabric A")!;

        Assert.Equal(KeyProtectorError.NoOwner, Check(Forge.SealJson(Kp.Wrappings.Where(w => !w.IsOwner), TestGuardians.FabricA.SigningKey, fabricA.Id, TransportKey), TransportKey));
        Assert.Equal(KeyProtectorError.NoOwner, Check(Forge.SealJson([], TestGuardians.FabricA.SigningKey, fabricA.Id, TransportKey), TransportKey));

        var secondOwner = Forge.Wrapping(Forge.NewId(), null, TestGuardians.Attacker.Metadata, TestGuardians.Attacker.SigningKey, TransportKey);
        Assert.Equal(KeyProtectorError.NoOwner, Check(Forge.SealJson([.. Kp.Wrappings, secondOwner], TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));

        var orphan = Forge.Wrapping(Forge.NewId(), Forge.NewId(), TestGuardians.Attacker.Metadata, TestGuardians.Attacker.SigningKey, TransportKey);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson([.. Kp.Wrappings, orphan], TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));

        string x = Forge.NewId(), y = Forge.NewId();
        var cycleX = Forge.Wrapping(x, y, TestGuardians.Attacker.Metadata, TestGuardians.Attacker.SigningKey, TransportKey);
        var cycleY = Forge.Wrapping(y, x, TestGuardians.FabricB.Metadata with { Name = "Fabric B2" }, TestGuardians.Attacker.SigningKey, TransportKey);
        var withoutB = Kp.Wrappings.Where(w => w.GuardianName != "Fabric B").ToList();
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Check(Forge.SealJson([.. withoutB, cycleX, cycleY], TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));

        var duplicateId = fabricA with { EncryptionCertificate = TestGuardians.Attacker.Metadata.EncryptionCertificate };
        Assert.Equal(KeyProtectorError.DuplicateWrapping, Check(Forge.SealJson([.. Kp.Wrappings, duplicateId], TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));

        var duplicateCertificate = fabricA with { Id = Forge.NewId() };
        Assert.Equal(KeyProtectorError.DuplicateWrapping, Check(Forge.SealJson([.. Kp.Wrappings, duplicateCertificate], TestGuardians.Owner.SigningKey, Kp.Owner.Id, TransportKey), TransportKey));
    }

    [Fact]
    public void Operations_refuse_a_tampered_key_protector()
    {
        var wrappings = Kp.Wrappings.ToList();
        wrappings[1] = wrappings[1] with { Endorsement = wrappings[1].Endorsement with { Value = Forge.Flip(wrappings[1].Endorsement.Value, 7) } };
        var tampered = KeyProtector.Parse(Forge.Envelope(Forge.WritePayload(wrappings), Kp.GuardianSignature, Kp.TransportKeySignature));

        Assert.Equal(KeyProtectorError.EndorsementInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.UnwrapAsOwner(tampered, TestGuardians.Owner)).Error);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Grant(tampered, TestGuardians.Owner, TestGuardians.Attacker.Metadata)).Error);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Revoke(tampered, TestGuardians.Owner, "Fabric B")).Error);
        Assert.Equal(KeyProtectorError.EndorsementInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(tampered, TestGuardians.NewTransportKey(), TestGuardians.Owner.SigningKey, Kp.Owner.Id)).Error);
    }

    private static List<KeyProtectorWrapping> Replace(KeyProtectorWrapping old, KeyProtectorWrapping replacement) =>
        Kp.Wrappings.Select(w => ReferenceEquals(w, old) ? replacement : w).ToList();
}
