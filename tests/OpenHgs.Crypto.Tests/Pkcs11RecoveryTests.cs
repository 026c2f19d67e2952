using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Crypto.Tests;

/// <summary>Lost sessions and vanished keys are recovered from once; persistent failure fails closed.</summary>
public sealed class Pkcs11RecoveryTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private readonly Pkcs11KeyStore _store = fixture.Store;

    [Fact]
    public void Signing_and_decrypting_recover_after_every_session_was_closed_behind_the_stores_back()
    {
        byte[] hash = SHA256.HashData("before"u8);
        _store.SignHash(new SignHashRequest(Pkcs11StoreFixture.EcSignLabel, hash, SignatureScheme.EcdsaSha256));
        int generation = _store.Sessions.Generation;

        // Same module instance, same slot: this closes the store's pooled sessions and logs the token out.
        _store.Slot.CloseAllSessions();
        byte[] signature = _store.SignHash(new SignHashRequest(Pkcs11StoreFixture.EcSignLabel, hash, SignatureScheme.EcdsaSha256));

        Assert.Equal(generation + 1, _store.Sessions.Generation);
        using ECDsa verifier = ECDsa.Create();
        verifier.ImportSubjectPublicKeyInfo(fixture.EcSign.SubjectPublicKeyInfo, out _);
        Assert.True(verifier.VerifyHash(hash, signature));

        _store.Slot.CloseAllSessions();
        byte[] secret = RandomNumberGenerator.GetBytes(16);
        using RSA encryptor = RSA.Create();
        encryptor.ImportSubjectPublicKeyInfo(fixture.RsaDecrypt.SubjectPublicKeyInfo, out _);
        byte[] plaintext = _store.Decrypt(new DecryptRequest(Pkcs11StoreFixture.RsaDecryptLabel, encryptor.Encrypt(secret, RSAEncryptionPadding.OaepSHA1), OaepHash.Sha1));
        Assert.Equal(secret, plaintext);
        Assert.Equal(generation + 2, _store.Sessions.Generation);
    }

    [Fact]
    public void A_failure_that_survives_reopening_the_session_is_unavailable()
    {
        int attempts = 0;
        var error = Assert.Throws<KeyStoreUnavailableException>(() => _store.Sessions.Execute<int>(_ =>
        {
            attempts++;
            throw new Pkcs11Exception("C_Sign", CKR.CKR_DEVICE_REMOVED);
        }));

        Assert.Equal(2, attempts);
        Assert.Contains("CKR_DEVICE_REMOVED", error.Message, StringComparison.Ordinal);

        // And the store still works afterwards.
        Assert.NotNull(_store.FindKey(Pkcs11StoreFixture.EcSignLabel));
    }

    [Fact]
    public void A_key_deleted_by_another_process_is_reported_missing_not_unavailable()
    {
        const string label = "deleted-elsewhere";
        _store.CreateKey(new CreateKeyRequest(label, KeyAlgorithm.EcP256, KeyUsage.Sign));
        var request = new SignHashRequest(label, SHA256.HashData("x"u8), SignatureScheme.EcdsaSha256);
        _store.SignHash(request);

        fixture.Token.RunPkcs11Tool("--delete-object", "--type", "privkey", "--label", label);
        fixture.Token.RunPkcs11Tool("--delete-object", "--type", "pubkey", "--label", label);

        var error = Assert.Throws<KeyNotFoundInStoreException>(() => _store.SignHash(request));
        Assert.Equal(label, error.Label);
        Assert.Null(_store.FindKey(label));
    }

    [Fact]
    public void A_disposed_store_refuses_work()
    {
        Pkcs11KeyStore store = fixture.Token.OpenKeyStore();
        store.Dispose();
        store.Dispose();
        Assert.Throws<ObjectDisposedException>(() => store.FindKey(Pkcs11StoreFixture.EcSignLabel));
    }
}
