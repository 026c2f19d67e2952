using System.Security.Cryptography;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

public sealed class KeyProtectorBuilderTests
{
    private static LocalGuardian Owner => TestGuardians.Owner;

    [Fact]
    public void Create_then_parse_round_trips()
    {
        var (kp, transportKey) = TestGuardians.NewKeyProtector();

        byte[] json = kp.ToJson();
        var parsed = KeyProtector.Parse(json);

        Assert.Equal(1, parsed.Version);
        Assert.True(parsed.Payload.Span.SequenceEqual(kp.Payload.Span));
        Assert.Equal(json, parsed.ToJson());
        Assert.Equal(4, parsed.Wrappings.Count);
        Assert.Equal("Contoso Tenant", parsed.Owner.GuardianName);
        Assert.Null(parsed.Owner.ParentId);
        Assert.Equal(parsed.Owner.Id, parsed.GuardianSignature.WrappingId);
        Assert.Equal("RS256", parsed.GuardianSignature.Algorithm);
        Assert.Equal("HS256", parsed.TransportKeySignature.Algorithm);
        Assert.All(parsed.Wrappings.Where(w => !w.IsOwner), w => Assert.Equal(parsed.Owner.Id, w.ParentId));
        Assert.All(parsed.Wrappings, w => Assert.Equal(22, w.Id.Length));
        Assert.Equal(parsed.Wrappings.Count, parsed.Wrappings.Select(w => w.Id).Distinct().Count());
        KeyProtectorVerifier.VerifySignatures(parsed);
        KeyProtectorVerifier.VerifyTransportKey(parsed, transportKey);
    }

    [Fact]
    public void The_test_forge_writes_exactly_what_the_builder_writes()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();

        Assert.Equal(kp.Payload.ToArray(), Forge.WritePayload(kp.Wrappings));
    }

    [Fact]
    public void Each_wrapping_uses_its_guardians_preferred_algorithm()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();

        Assert.Equal("RSA-OAEP-256", kp.Owner.WrappedKey.Algorithm);
        Assert.Equal("RSA-OAEP-256", kp.FindWrappingForGuardian("Fabric A")!.WrappedKey.Algorithm);
        Assert.Equal("RSA-OAEP", kp.FindWrappingForGuardian("Fabric SoftHSM")!.WrappedKey.Algorithm);
    }

    [Fact]
    public void Owner_and_every_guardian_unwrap_the_transport_key()
    {
        var (kp, transportKey) = TestGuardians.NewKeyProtector();

        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(kp, Owner));
        foreach (var guardian in new[] { TestGuardians.FabricA, TestGuardians.FabricB, TestGuardians.SoftHsmFabric })
        {
            var wrapping = kp.FindWrappingForEncryptionCertificate(guardian.Metadata.EncryptionCertificate);
            Assert.NotNull(wrapping);
            Assert.Same(wrapping, kp.FindWrappingForGuardian(guardian.Metadata.Name));
            Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(kp, wrapping, guardian.EncryptionKey));
        }

        Assert.Null(kp.FindWrappingForEncryptionCertificate(TestGuardians.Attacker.Metadata.EncryptionCertificate));
        Assert.Null(kp.FindWrappingForGuardian("Mallory"));
    }

    [Fact]
    public void A_guardian_cannot_unwrap_another_guardians_wrapping()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();
        var wrapping = kp.FindWrappingForGuardian("Fabric A")!;

        var ex = Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.UnwrapTransportKey(kp, wrapping, TestGuardians.FabricB.EncryptionKey));

        Assert.Equal(KeyProtectorError.TransportKeyInvalid, ex.Error);
    }

    [Fact]
    public void Create_refuses_bad_transport_keys_and_duplicate_guardians()
    {
        var a = TestGuardians.FabricA.Metadata;
        Assert.Equal(KeyProtectorError.TransportKeyInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Create(Owner, [a], new byte[31])).Error);
        Assert.Equal(KeyProtectorError.TransportKeyInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Create(Owner, [a], new byte[33])).Error);
        Assert.Equal(KeyProtectorError.DuplicateWrapping, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Create(Owner, [a, a], TestGuardians.NewTransportKey())).Error);
        Assert.Equal(KeyProtectorError.DuplicateWrapping, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Create(Owner, [Owner.Metadata], TestGuardians.NewTransportKey())).Error);
        Assert.Throws<GuardianFormatException>(() => KeyProtectorBuilder.Create(Owner, [a with { WrapAlgorithms = ["RSA1_5"] }], TestGuardians.NewTransportKey()));
    }

    [Fact]
    public void Grant_adds_a_wrapping_the_new_guardian_can_unwrap()
    {
        byte[] transportKey = TestGuardians.NewTransportKey();
        var kp = KeyProtectorBuilder.Create(Owner, [TestGuardians.FabricA.Metadata], transportKey);

        var granted = KeyProtectorBuilder.Grant(kp, Owner, TestGuardians.FabricB.Metadata);

        Assert.Equal(3, granted.Wrappings.Count);
        KeyProtectorVerifier.VerifySignatures(granted);
        KeyProtectorVerifier.VerifyTransportKey(granted, transportKey);
        var wrapping = granted.FindWrappingForGuardian("Fabric B")!;
        Assert.Equal(granted.Owner.Id, wrapping.ParentId);
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(granted, wrapping, TestGuardians.FabricB.EncryptionKey));
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(granted, Owner));

        // Existing wrappings are carried over untouched; the original is still valid on its own.
        Assert.Equal(kp.Wrappings.Select(w => w.Id), granted.Wrappings.Take(2).Select(w => w.Id));
        Assert.Equal(kp.FindWrappingForGuardian("Fabric A")!.WrappedKey.Value, granted.FindWrappingForGuardian("Fabric A")!.WrappedKey.Value);
        KeyProtectorVerifier.VerifySignatures(kp);
        Assert.Null(kp.FindWrappingForGuardian("Fabric B"));
    }

    [Fact]
    public void Grant_refuses_a_second_grant_a_non_owner_and_a_full_protector()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();

        Assert.Equal(KeyProtectorError.AlreadyGranted, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Grant(kp, Owner, TestGuardians.FabricA.Metadata)).Error);
        Assert.Equal(KeyProtectorError.AlreadyGranted, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Grant(kp, Owner, Owner.Metadata)).Error);
        Assert.Equal(KeyProtectorError.OwnerKeyMismatch, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Grant(kp, TestGuardians.FabricA, TestGuardians.Attacker.Metadata)).Error);
        Assert.Equal(KeyProtectorError.OwnerKeyMismatch, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Grant(kp, TestGuardians.Attacker, TestGuardians.Attacker.Metadata)).Error);
    }

    [Fact]
    public void Revoke_removes_the_guardian_and_keeps_the_rest()
    {
        var (kp, transportKey) = TestGuardians.NewKeyProtector();

        var revoked = KeyProtectorBuilder.Revoke(kp, Owner, "Fabric B");

        Assert.Equal(3, revoked.Wrappings.Count);
        Assert.Null(revoked.FindWrappingForGuardian("Fabric B"));
        Assert.Null(revoked.FindWrappingForEncryptionCertificate(TestGuardians.FabricB.Metadata.EncryptionCertificate));
        KeyProtectorVerifier.VerifySignatures(revoked);
        KeyProtectorVerifier.VerifyTransportKey(revoked, transportKey);
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(revoked, Owner));
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(revoked, revoked.FindWrappingForGuardian("Fabric A")!, TestGuardians.FabricA.EncryptionKey));

        // Revoked guardians can be granted again.
        var regranted = KeyProtectorBuilder.Grant(revoked, Owner, TestGuardians.FabricB.Metadata);
        Assert.NotNull(regranted.FindWrappingForGuardian("Fabric B"));
    }

    [Fact]
    public void Revoke_refuses_absent_guardians_the_owner_and_non_owners()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();

        Assert.Equal(KeyProtectorError.NotGrantedToGuardian, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Revoke(kp, Owner, "Mallory")).Error);
        Assert.Equal(KeyProtectorError.NotGrantedToGuardian, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Revoke(kp, Owner, "fabric a")).Error);
        Assert.Equal(KeyProtectorError.CannotRevokeOwner, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Revoke(kp, Owner, "Contoso Tenant")).Error);
        Assert.Equal(KeyProtectorError.OwnerKeyMismatch, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Revoke(kp, TestGuardians.FabricA, "Fabric B")).Error);
    }

    [Fact]
    public void Revoke_also_removes_wrappings_a_revoked_guardian_endorsed()
    {
        var (kp, transportKey) = TestGuardians.NewKeyProtector();
        var fabricA = kp.FindWrappingForGuardian("Fabric A")!;
        var delegated = Forge.Wrapping(Forge.NewId(), fabricA.Id, TestGuardians.Attacker.Metadata, TestGuardians.FabricA.SigningKey, transportKey);
        var withDelegate = Forge.Seal([.. kp.Wrappings, delegated], TestGuardians.FabricA.SigningKey, fabricA.Id, transportKey);
        KeyProtectorVerifier.VerifySignatures(withDelegate); // a chain owner → Fabric A → Mallory is valid

        var revoked = KeyProtectorBuilder.Revoke(withDelegate, Owner, "Fabric A");

        Assert.Equal(["Contoso Tenant", "Fabric B", "Fabric SoftHSM"], revoked.Wrappings.Select(w => w.GuardianName));
        KeyProtectorVerifier.VerifySignatures(revoked);
    }

    [Fact]
    public void Roll_rewraps_a_fresh_key_for_every_guardian()
    {
        var (kp, oldKey) = TestGuardians.NewKeyProtector();
        var kps = TestGuardians.SoftHsmFabric;
        var kpsWrapping = kp.FindWrappingForEncryptionCertificate(kps.Metadata.EncryptionCertificate)!;
        byte[] newKey = TestGuardians.NewTransportKey();

        var rolled = KeyProtectorBuilder.Roll(kp, newKey, kps.SigningKey, kpsWrapping.Id);

        KeyProtectorVerifier.VerifySignatures(rolled);
        KeyProtectorVerifier.VerifyTransportKey(rolled, newKey);
        Assert.Equal(KeyProtectorError.TransportKeySignatureInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorVerifier.VerifyTransportKey(rolled, oldKey)).Error);
        Assert.Equal(kpsWrapping.Id, rolled.GuardianSignature.WrappingId);
        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapAsOwner(rolled, Owner));
        foreach (var guardian in new[] { TestGuardians.FabricA, TestGuardians.FabricB, TestGuardians.SoftHsmFabric })
        {
            var wrapping = rolled.FindWrappingForEncryptionCertificate(guardian.Metadata.EncryptionCertificate)!;
            Assert.Equal(newKey, KeyProtectorBuilder.UnwrapTransportKey(rolled, wrapping, guardian.EncryptionKey));
        }

        // Same wrappings, endorsements and algorithms; new wrapped keys.
        Assert.Equal(kp.Wrappings.Count, rolled.Wrappings.Count);
        for (int i = 0; i < kp.Wrappings.Count; i++)
        {
            Assert.Equal(kp.Wrappings[i].Id, rolled.Wrappings[i].Id);
            Assert.Equal(kp.Wrappings[i].Endorsement.Value, rolled.Wrappings[i].Endorsement.Value);
            Assert.Equal(kp.Wrappings[i].WrappedKey.Algorithm, rolled.Wrappings[i].WrappedKey.Algorithm);
            Assert.NotEqual(kp.Wrappings[i].WrappedKey.Value, rolled.Wrappings[i].WrappedKey.Value);
        }

        // The ingress key protector is untouched and still valid with the old key.
        KeyProtectorVerifier.VerifySignatures(kp);
        Assert.Equal(oldKey, KeyProtectorBuilder.UnwrapAsOwner(kp, Owner));

        // The owner keeps full control of a rolled key protector.
        var regranted = KeyProtectorBuilder.Grant(KeyProtectorBuilder.Revoke(rolled, Owner, "Fabric B"), Owner, TestGuardians.Attacker.Metadata);
        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapTransportKey(regranted, regranted.FindWrappingForGuardian("Mallory")!, TestGuardians.Attacker.EncryptionKey));
        Assert.Equal(regranted.Owner.Id, regranted.GuardianSignature.WrappingId);
    }

    [Fact]
    public void Roll_refuses_a_signer_that_is_not_the_named_wrapping()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();
        string fabricA = kp.FindWrappingForGuardian("Fabric A")!.Id;
        byte[] newKey = TestGuardians.NewTransportKey();

        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(kp, newKey, TestGuardians.FabricB.SigningKey, fabricA)).Error);
        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(kp, newKey, TestGuardians.FabricA.EncryptionKey, fabricA)).Error);
        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(kp, newKey, TestGuardians.Attacker.SigningKey, Forge.NewId())).Error);
        Assert.Equal(KeyProtectorError.TransportKeyInvalid, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Roll(kp, new byte[16], TestGuardians.FabricA.SigningKey, fabricA)).Error);
    }

    [Fact]
    public void Everything_works_with_keys_that_refuse_private_export()
    {
        using var owner = TestGuardians.Make("HSM Tenant", ["RSA-OAEP-256", "RSA-OAEP"], NonExportableRsa.Create2048(), NonExportableRsa.Create2048());
        using var kps = TestGuardians.Make("HSM Fabric", ["RSA-OAEP"], NonExportableRsa.Create2048(), NonExportableRsa.Create2048());
        byte[] transportKey = TestGuardians.NewTransportKey();

        var kp = KeyProtectorBuilder.Create(owner, [], transportKey);
        kp = KeyProtectorBuilder.Grant(kp, owner, kps.Metadata);
        var kpsWrapping = kp.FindWrappingForEncryptionCertificate(kps.Metadata.EncryptionCertificate)!;
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(kp, kpsWrapping, kps.EncryptionKey));
        byte[] newKey = TestGuardians.NewTransportKey();
        var rolled = KeyProtectorBuilder.Roll(kp, newKey, kps.SigningKey, kpsWrapping.Id);

        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapAsOwner(rolled, owner));
        Assert.Equal(newKey, KeyProtectorBuilder.UnwrapTransportKey(rolled, rolled.FindWrapping(kpsWrapping.Id)!, kps.EncryptionKey));
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(KeyProtectorBuilder.Revoke(kp, owner, "HSM Fabric"), owner));
        Assert.True(((NonExportableRsa)kps.SigningKey).SignCount >= 3); // two certificates and the roll
        Assert.True(((NonExportableRsa)kps.EncryptionKey).DecryptCount >= 2);
    }

    [Fact]
    public void The_key_store_adapter_signs_rolls_and_unwraps_with_sha1_oaep()
    {
        using var store = new FakeKeyStore();
        store.CreateKey(new OpenHgs.Crypto.CreateKeyRequest("kps-signing", OpenHgs.Crypto.KeyAlgorithm.Rsa2048, OpenHgs.Crypto.KeyUsage.Sign));
        store.CreateKey(new OpenHgs.Crypto.CreateKeyRequest("kps-encryption", OpenHgs.Crypto.KeyAlgorithm.Rsa2048, OpenHgs.Crypto.KeyUsage.Decrypt));
        var kps = TestGuardians.Make("SoftHSM KPS", store.Capabilities.OaepHashes.Select(h => h == OpenHgs.Crypto.OaepHash.Sha256 ? "RSA-OAEP-256" : "RSA-OAEP").ToList(), OpenHgs.Crypto.KeyStoreExtensions.GetRsa(store, "kps-signing"), OpenHgs.Crypto.KeyStoreExtensions.GetRsa(store, "kps-encryption"));
        byte[] transportKey = TestGuardians.NewTransportKey();
        var kp = KeyProtectorBuilder.Create(Owner, [kps.Metadata], transportKey);
        var wrapping = kp.FindWrappingForEncryptionCertificate(kps.Metadata.EncryptionCertificate)!;

        KeyProtectorVerifier.VerifySignatures(kp);
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(kp, wrapping, kps.EncryptionKey));
        Assert.Equal(OpenHgs.Crypto.OaepHash.Sha1, KeyProtectorAlgorithms.GetOaepHash(wrapping.WrappedKey.Algorithm));
        var rolled = KeyProtectorBuilder.Roll(kp, TestGuardians.NewTransportKey(), kps.SigningKey, wrapping.Id);
        KeyProtectorVerifier.VerifySignatures(rolled);
    }

    [Fact]
    public void Unwrap_refuses_a_wrapping_from_another_key_protector()
    {
        var (kp, _) = TestGuardians.NewKeyProtector();
        var (other, _) = TestGuardians.NewKeyProtector();

        Assert.Throws<ArgumentException>(() => KeyProtectorBuilder.UnwrapTransportKey(kp, other.Owner, Owner.EncryptionKey));
    }
}
