using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Crypto.Tests;

/// <summary>Key management, signatures and decryption against a real SoftHSM2 token.</summary>
public sealed class Pkcs11KeyStoreTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private readonly Pkcs11KeyStore _store = fixture.Store;

    [Fact]
    public void Store_reports_its_kind_and_the_key_types_softhsm_generates()
    {
        Assert.Equal("pkcs11", _store.Kind);
        Assert.Equal(
            [KeyAlgorithm.Rsa2048, KeyAlgorithm.Rsa3072, KeyAlgorithm.Rsa4096, KeyAlgorithm.EcP256, KeyAlgorithm.EcP384],
            _store.Capabilities.Algorithms);
    }

    [Fact]
    public void Created_keys_are_found_with_algorithm_usage_and_public_key()
    {
        StoredKey rsa = Assert.IsType<StoredKey>(_store.FindKey(Pkcs11StoreFixture.RsaDecryptLabel));
        Assert.Equal(KeyAlgorithm.Rsa2048, rsa.Algorithm);
        Assert.Equal(KeyUsage.Decrypt, rsa.Usage);
        Assert.Equal(fixture.RsaDecrypt.SubjectPublicKeyInfo, rsa.SubjectPublicKeyInfo);
        using RSA rsaPublic = RSA.Create();
        rsaPublic.ImportSubjectPublicKeyInfo(rsa.SubjectPublicKeyInfo, out int read);
        Assert.Equal(rsa.SubjectPublicKeyInfo.Length, read);
        Assert.Equal(2048, rsaPublic.KeySize);

        StoredKey ec = Assert.IsType<StoredKey>(_store.FindKey(Pkcs11StoreFixture.EcSignLabel));
        Assert.Equal(KeyAlgorithm.EcP256, ec.Algorithm);
        Assert.Equal(KeyUsage.Sign, ec.Usage);
        using ECDsa ecPublic = ECDsa.Create();
        ecPublic.ImportSubjectPublicKeyInfo(ec.SubjectPublicKeyInfo, out _);
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, ecPublic.ExportParameters(false).Curve.Oid.Value);
    }

    [Fact]
    public void FindKey_returns_null_for_an_unknown_label()
    {
        Assert.Null(_store.FindKey("no-such-key"));
    }

    [Fact]
    public void ListKeys_returns_every_created_key()
    {
        var labels = _store.ListKeys().Select(k => k.Label).ToList();
        Assert.Contains(Pkcs11StoreFixture.RsaDecryptLabel, labels);
        Assert.Contains(Pkcs11StoreFixture.RsaSignLabel, labels);
        Assert.Contains(Pkcs11StoreFixture.EcSignLabel, labels);
        Assert.Equal(KeyUsage.Sign, _store.ListKeys().Single(k => k.Label == Pkcs11StoreFixture.RsaSignLabel).Usage);
    }

    [Fact]
    public void CreateKey_refuses_a_label_that_exists()
    {
        var error = Assert.Throws<KeyStoreOperationException>(
            () => _store.CreateKey(new CreateKeyRequest(Pkcs11StoreFixture.EcSignLabel, KeyAlgorithm.EcP256, KeyUsage.Sign)));
        Assert.Contains("already has a key labelled 'ec-sign'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateKey_refuses_an_ec_decryption_key()
    {
        var error = Assert.Throws<KeyStoreOperationException>(
            () => _store.CreateKey(new CreateKeyRequest("ec-decrypt", KeyAlgorithm.EcP256, KeyUsage.Decrypt)));
        Assert.Contains("can only sign", error.Message, StringComparison.Ordinal);
        Assert.Null(_store.FindKey("ec-decrypt"));
    }

    [Fact]
    public void DeleteKey_destroys_private_and_public_objects()
    {
        const string label = "short-lived-p384";
        StoredKey key = _store.CreateKey(new CreateKeyRequest(label, KeyAlgorithm.EcP384, KeyUsage.Sign));
        Assert.Equal(KeyAlgorithm.EcP384, key.Algorithm);
        byte[] hash = SHA384.HashData("p384"u8);
        using (ECDsa verifier = ImportEc(key))
        {
            Assert.True(verifier.VerifyHash(hash, _store.SignHash(new SignHashRequest(label, hash, SignatureScheme.EcdsaSha384))));
        }

        Assert.Equal(2, CountObjects(label));

        Assert.True(_store.DeleteKey(label));

        Assert.Equal(0, CountObjects(label));
        Assert.Null(_store.FindKey(label));
        Assert.DoesNotContain(label, _store.ListKeys().Select(k => k.Label));
        Assert.Throws<KeyNotFoundInStoreException>(() => _store.SignHash(new SignHashRequest(label, hash, SignatureScheme.EcdsaSha384)));
        Assert.False(_store.DeleteKey(label));
    }

    [Fact]
    public void Rsa_pkcs1_signature_verifies_with_the_public_key()
    {
        byte[] hash = SHA256.HashData("health certificate"u8);
        byte[] signature = _store.SignHash(new SignHashRequest(Pkcs11StoreFixture.RsaSignLabel, hash, SignatureScheme.RsaPkcs1Sha256));

        using RSA verifier = ImportRsa(fixture.RsaSign);
        Assert.True(verifier.VerifyHash(hash, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.False(verifier.VerifyHash(SHA256.HashData("other"u8), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void Rsa_pss_signature_verifies_or_is_refused_as_probed()
    {
        byte[] hash = SHA256.HashData("pss"u8);
        var request = new SignHashRequest(Pkcs11StoreFixture.RsaSignLabel, hash, SignatureScheme.RsaPssSha256);
        if (!_store.Capabilities.RsaPss)
        {
            Assert.Contains("RSA-PSS", Assert.Throws<KeyStoreOperationException>(() => _store.SignHash(request)).Message, StringComparison.Ordinal);
            return;
        }

        byte[] signature = _store.SignHash(request);
        using RSA verifier = ImportRsa(fixture.RsaSign);
        Assert.True(verifier.VerifyHash(hash, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
    }

    [Fact]
    public void Ecdsa_signature_is_r_concatenated_with_s_and_verifies()
    {
        byte[] hash = SHA256.HashData("jws"u8);
        byte[] signature = _store.SignHash(new SignHashRequest(Pkcs11StoreFixture.EcSignLabel, hash, SignatureScheme.EcdsaSha256));

        Assert.Equal(64, signature.Length);
        using ECDsa verifier = ImportEc(fixture.EcSign);
        Assert.True(verifier.VerifyHash(hash, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    [Fact]
    public void Oaep_sha1_decrypts_what_dotnet_encrypted()
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        using RSA encryptor = ImportRsa(fixture.RsaDecrypt);
        byte[] ciphertext = encryptor.Encrypt(secret, RSAEncryptionPadding.OaepSHA1);

        byte[] plaintext = _store.Decrypt(new DecryptRequest(Pkcs11StoreFixture.RsaDecryptLabel, ciphertext, OaepHash.Sha1));

        Assert.Equal(secret, plaintext);
    }

    [Fact]
    public void Oaep_sha256_works_exactly_when_the_probe_said_so()
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        using RSA encryptor = ImportRsa(fixture.RsaDecrypt);
        byte[] ciphertext = encryptor.Encrypt(secret, RSAEncryptionPadding.OaepSHA256);
        var request = new DecryptRequest(Pkcs11StoreFixture.RsaDecryptLabel, ciphertext, OaepHash.Sha256);

        // Ask the token directly, bypassing the store's capability gate, to check the probe told the truth.
        bool tokenCanDoIt = _store.Sessions.Execute(session =>
        {
            Pkcs11KeyPair key = Pkcs11KeyObjects.Load(session, Pkcs11StoreFixture.RsaDecryptLabel)!;
            using IMechanism mechanism = Pkcs11Mechanisms.ForOaep(session, OaepHash.Sha256);
            try
            {
                return session.Decrypt(mechanism, key.PrivateKey, ciphertext).AsSpan().SequenceEqual(secret);
            }
            catch (Pkcs11Exception)
            {
                return false;
            }
        });
        Assert.Equal(tokenCanDoIt, _store.Capabilities.OaepSha256);

        if (_store.Capabilities.OaepSha256)
        {
            Assert.Equal(secret, _store.Decrypt(request));
            Assert.Equal([OaepHash.Sha256, OaepHash.Sha1], _store.Capabilities.OaepHashes);
        }
        else
        {
            var error = Assert.Throws<KeyStoreOperationException>(() => _store.Decrypt(request));
            Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
            Assert.Equal([OaepHash.Sha1], _store.Capabilities.OaepHashes);
        }
    }

    [Fact]
    public void Decrypt_with_a_bad_ciphertext_is_refused_without_details()
    {
        byte[] garbage = new byte[256];
        garbage[0] = 0x01;
        var error = Assert.Throws<KeyStoreOperationException>(
            () => _store.Decrypt(new DecryptRequest(Pkcs11StoreFixture.RsaDecryptLabel, garbage, OaepHash.Sha1)));
        Assert.Contains("Key 'rsa-decrypt' could not decrypt the ciphertext", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decrypt_uses_the_zeroing_low_level_path_on_64_bit_unix()
    {
        Assert.Equal(!OperatingSystem.IsWindows() && Environment.Is64BitProcess, _store.ZeroesDecryptBuffers);
    }

    [Fact]
    public void Decrypting_with_a_signing_key_is_refused()
    {
        var error = Assert.Throws<KeyStoreOperationException>(
            () => _store.Decrypt(new DecryptRequest(Pkcs11StoreFixture.RsaSignLabel, new byte[256], OaepHash.Sha1)));
        Assert.Contains("'rsa-sign' may not be used to decrypt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Signing_with_a_decryption_key_is_refused()
    {
        var error = Assert.Throws<KeyStoreOperationException>(() => _store.SignHash(
            new SignHashRequest(Pkcs11StoreFixture.RsaDecryptLabel, new byte[32], SignatureScheme.RsaPkcs1Sha256)));
        Assert.Contains("'rsa-decrypt' may not be used to sign", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_token_itself_refuses_decryption_with_a_signing_key()
    {
        // Bypass the store's own usage check: CKA_DECRYPT=false must make the token refuse.
        CKR result = _store.Sessions.Execute(session =>
        {
            Pkcs11KeyPair key = Pkcs11KeyObjects.Load(session, Pkcs11StoreFixture.RsaSignLabel)!;
            using IMechanism mechanism = Pkcs11Mechanisms.ForOaep(session, OaepHash.Sha1);
            try
            {
                session.Decrypt(mechanism, key.PrivateKey, new byte[256]);
                return CKR.CKR_OK;
            }
            catch (Pkcs11Exception ex)
            {
                return ex.RV;
            }
        });
        Assert.Equal(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED, result);
    }

    [Fact]
    public void Rsa_scheme_with_an_ec_key_is_refused()
    {
        var error = Assert.Throws<KeyStoreOperationException>(() => _store.SignHash(
            new SignHashRequest(Pkcs11StoreFixture.EcSignLabel, new byte[32], SignatureScheme.RsaPkcs1Sha256)));
        Assert.Contains("is EcP256; it cannot make RsaPkcs1Sha256 signatures", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_digest_of_the_wrong_length_is_refused()
    {
        var error = Assert.Throws<KeyStoreOperationException>(() => _store.SignHash(
            new SignHashRequest(Pkcs11StoreFixture.EcSignLabel, new byte[48], SignatureScheme.EcdsaSha256)));
        Assert.Contains("32-byte digest, not 48", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Operations_on_a_missing_key_name_the_label()
    {
        var sign = Assert.Throws<KeyNotFoundInStoreException>(() => _store.SignHash(
            new SignHashRequest("missing", new byte[32], SignatureScheme.EcdsaSha256)));
        Assert.Equal("missing", sign.Label);
        var decrypt = Assert.Throws<KeyNotFoundInStoreException>(() => _store.Decrypt(
            new DecryptRequest("missing", new byte[256], OaepHash.Sha1)));
        Assert.Equal("missing", decrypt.Label);
    }

    [Theory]
    [InlineData(Pkcs11StoreFixture.RsaDecryptLabel, true, false, true)]
    [InlineData(Pkcs11StoreFixture.RsaSignLabel, false, true, false)]
    [InlineData(Pkcs11StoreFixture.EcSignLabel, false, true, false)]
    public void Private_keys_are_sensitive_non_extractable_token_objects_with_only_their_usage(
        string label, bool decrypt, bool sign, bool unwrap)
    {
        List<IObjectAttribute> attributes = _store.Sessions.Execute(session =>
        {
            IObjectHandle handle = Assert.Single(Pkcs11KeyObjects.Find(session, CKO.CKO_PRIVATE_KEY, label));
            return session.GetAttributeValue(handle,
            [
                CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_MODIFIABLE,
                CKA.CKA_DECRYPT, CKA.CKA_SIGN, CKA.CKA_UNWRAP, CKA.CKA_DERIVE, CKA.CKA_ID,
            ]);
        });

        Assert.True(attributes[0].GetValueAsBool(), "CKA_TOKEN");
        Assert.True(attributes[1].GetValueAsBool(), "CKA_PRIVATE");
        Assert.True(attributes[2].GetValueAsBool(), "CKA_SENSITIVE");
        Assert.False(attributes[3].GetValueAsBool(), "CKA_EXTRACTABLE");
        Assert.False(attributes[4].GetValueAsBool(), "CKA_MODIFIABLE");
        Assert.Equal(decrypt, attributes[5].GetValueAsBool());
        Assert.Equal(sign, attributes[6].GetValueAsBool());
        Assert.Equal(unwrap, attributes[7].GetValueAsBool());
        Assert.False(attributes[8].GetValueAsBool(), "CKA_DERIVE");
        Assert.Equal(Encoding.UTF8.GetBytes(label), attributes[9].GetValueAsByteArray());
    }

    [Fact]
    public void Pkcs11_tool_sees_the_private_keys_as_sensitive_and_never_extractable()
    {
        string listing = fixture.Token.RunPkcs11Tool("--list-objects", "--type", "privkey");

        foreach (string label in new[] { Pkcs11StoreFixture.RsaDecryptLabel, Pkcs11StoreFixture.RsaSignLabel, Pkcs11StoreFixture.EcSignLabel })
        {
            string block = ObjectBlock(listing, label);
            Assert.Contains("sensitive", block, StringComparison.Ordinal);
            Assert.Contains("never extractable", block, StringComparison.Ordinal);
        }

        Assert.Matches(@"Usage:\s+decrypt, unwrap\s", ObjectBlock(listing, Pkcs11StoreFixture.RsaDecryptLabel));
        Assert.Matches(@"Usage:\s+sign\s", ObjectBlock(listing, Pkcs11StoreFixture.EcSignLabel));
    }

    [Fact]
    public void Public_keys_are_token_objects_too()
    {
        string listing = fixture.Token.RunPkcs11Tool("--list-objects", "--type", "pubkey");
        Assert.Contains("Public Key Object; RSA 2048 bits", ObjectBlock(listing, Pkcs11StoreFixture.RsaSignLabel), StringComparison.Ordinal);
        Assert.Contains("Public Key Object; EC", ObjectBlock(listing, Pkcs11StoreFixture.EcSignLabel), StringComparison.Ordinal);
    }

    private int CountObjects(string label) => _store.Sessions.Execute(session =>
        Pkcs11KeyObjects.Find(session, CKO.CKO_PRIVATE_KEY, label).Count + Pkcs11KeyObjects.Find(session, CKO.CKO_PUBLIC_KEY, label).Count);

    /// <summary>The pkcs11-tool paragraph (header line plus indented attributes) of the object labelled <paramref name="label"/>.</summary>
    private static string ObjectBlock(string listing, string label)
    {
        string[] lines = listing.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() == $"label:      {label}")
            {
                int start = i;
                while (start > 0 && lines[start].StartsWith(' '))
                {
                    start--;
                }

                int end = i + 1;
                while (end < lines.Length && lines[end].StartsWith(' '))
                {
                    end++;
                }

                return string.Join('\n', lines[start..end]) + "\n";
            }
        }

        throw new Xunit.Sdk.XunitException($"pkcs11-tool did not list '{label}':\n{listing}");
    }

    private static RSA ImportRsa(StoredKey key)
    {
        RSA rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        return rsa;
    }

    private static ECDsa ImportEc(StoredKey key)
    {
        ECDsa ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        return ecdsa;
    }
}
