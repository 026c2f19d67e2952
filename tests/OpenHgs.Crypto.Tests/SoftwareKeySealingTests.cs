using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using OpenHgs.Crypto.Software;

namespace OpenHgs.Crypto.Tests;

/// <summary>
/// Issue 9 §3: the software store binds each sealed blob to its whole record (format 2): label, kind, algorithm, usage
/// and public key. Known answers are computed independently (Python <c>cryptography</c>, AES-GCM); tampered records fail
/// with their specific reason and are left as they are; format-1 records still open, read-only.
/// </summary>
public sealed class SoftwareKeySealingTests : IDisposable
{
    private const string KeyFileName = "keystore.key";
    private static readonly byte[] KnownKey = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
    private static readonly byte[] KnownNonce = [.. Enumerable.Range(100, 12).Select(i => (byte)i)];
    private static readonly byte[] KnownPlaintext = "OpenHGS known-answer plaintext"u8.ToArray();
    private static readonly byte[] Digest = SHA256.HashData("signed by the software store"u8);
    private readonly string _data = Directory.CreateTempSubdirectory("openhgs-sealing-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Theory]
    [InlineData("key-pair", "openhgs-att-1", "EcP256", "1", "3059010203",
        "4f70656e4847532d7365616c65642d6b65792d763200000000086b65792d706169720000000d6f70656e6867732d6174742d31000000064563503235360000000131000000053059010203",
        "6465666768696a6b6c6d6e6f076bbb0831ae05be550c309fb4480b9331b56378ab1c9f13cebfd82d83d79f53671c07562301b883aa79d3139824")]
    [InlineData("key-pair", "openhgs-enc-1", "Rsa2048", "2", "308209",
        "4f70656e4847532d7365616c65642d6b65792d763200000000086b65792d706169720000000d6f70656e6867732d656e632d310000000752736132303438000000013200000003308209",
        "6465666768696a6b6c6d6e6f076bbb0831ae05be550c309fb4480b9331b56378ab1c9f13cebfd82d83d7d88551a23ce8fe21f1fccfe34b848c23")]
    [InlineData("mac-key", "openhgs-row-mac", "HmacSha256", "mac", "",
        "4f70656e4847532d7365616c65642d6b65792d763200000000076d61632d6b65790000000f6f70656e6867732d726f772d6d61630000000a486d6163536861323536000000036d616300000000",
        "6465666768696a6b6c6d6e6f076bbb0831ae05be550c309fb4480b9331b56378ab1c9f13cebfd82d83d783d8eed4376c9c9f0c0cd24b691cefbc")]
    public void Format_two_seals_to_the_known_answer_and_opens_only_for_its_record(
        string kind, string label, string algorithm, string usage, string publicKeyHex, string expectedAadHex, string expectedBlobHex)
    {
        var record = new SealedRecord(kind, label, algorithm, usage, Convert.FromHexString(publicKeyHex));
        using var sealing = KeySealing.FromKey(KnownKey);
        Assert.Equal("965d5696be8a4d66", Convert.ToHexStringLower(sealing.KeyId));
        Assert.Equal(expectedAadHex, Convert.ToHexStringLower(KeySealing.FormatTwoAad(record)));
        byte[] blob = sealing.Seal(record, KnownPlaintext, KnownNonce);
        Assert.Equal(expectedBlobHex, Convert.ToHexStringLower(blob));
        Assert.Equal(KnownPlaintext, sealing.Open(record, KeySealing.CurrentFormat, sealing.KeyId, blob));

        // Any other field value, or the same blob read as format 1, does not open.
        foreach (var other in new[]
        {
            record with { Kind = kind == SealedRecord.MacKeyKind ? SealedRecord.KeyPairKind : SealedRecord.MacKeyKind },
            record with { Label = label + "x" },
            record with { Algorithm = "EcP384" },
            record with { Usage = "3" },
            record with { PublicKey = [.. record.PublicKey, 0] },
        })
        {
            Assert.Equal(SealedKeyErrors.RecordMismatch, Assert.Throws<KeyStoreUnavailableException>(() => sealing.Open(other, KeySealing.CurrentFormat, sealing.KeyId, blob)).Reason);
        }

        Assert.Equal(SealedKeyErrors.DoesNotOpen, Assert.Throws<KeyStoreUnavailableException>(() => sealing.Open(record, KeySealing.FormatOne, null, blob)).Reason);
    }

    [Theory]
    [Trait("Attack", "A73")]
    [InlineData("widen-usage", SealedKeyErrors.RecordMismatch)]
    [InlineData("change-algorithm", SealedKeyErrors.RecordMismatch)]
    [InlineData("swap-public-key", SealedKeyErrors.RecordMismatch)]
    [InlineData("swap-blob-from-other-key", SealedKeyErrors.RecordMismatch)]
    [InlineData("swap-blob-from-mac-key", SealedKeyErrors.RecordMismatch)]
    [InlineData("relabel-as-other-record", SealedKeyErrors.RecordMismatch)]
    [InlineData("downgrade-to-format-1", SealedKeyErrors.DoesNotOpen)]
    [InlineData("unknown-format", SealedKeyErrors.UnsupportedFormat)]
    [InlineData("truncate-blob", SealedKeyErrors.Truncated)]
    public void A_tampered_record_fails_with_its_reason_and_is_left_unchanged(string tamper, string reason)
    {
        using (var store = OpenStore())
        {
            store.CreateKey(new CreateKeyRequest("a", KeyAlgorithm.EcP256, KeyUsage.Sign));
            store.CreateKey(new CreateKeyRequest("b", KeyAlgorithm.EcP256, KeyUsage.Sign));
            store.AsRecordAuthenticator()!.CreateMacKey("m");
        }

        var a = ReadRecord("a.key.json");
        Assert.Equal(2, (int)a["Format"]!);
        var b = ReadRecord("b.key.json");
        var m = ReadRecord("m.mac.json");
        string target = "a.key.json";
        string label = "a";
        switch (tamper)
        {
            case "widen-usage": a["Usage"] = "Sign, Decrypt"; break;
            case "change-algorithm": a["Algorithm"] = "EcP384"; break;
            case "swap-public-key": a["SubjectPublicKeyInfo"] = b["SubjectPublicKeyInfo"]!.DeepClone(); break;
            case "swap-blob-from-other-key": a["Sealed"] = b["Sealed"]!.DeepClone(); break;
            case "swap-blob-from-mac-key": a["Sealed"] = m["Sealed"]!.DeepClone(); break;
            case "relabel-as-other-record": a["Label"] = "c"; target = "c.key.json"; label = "c"; break;
            case "downgrade-to-format-1": a.Remove("Format"); a.Remove("SealingKeyId"); break;
            case "unknown-format": a["Format"] = 3; break;
            case "truncate-blob": a["Sealed"] = Convert.ToBase64String(new byte[20]); break;
            default: throw new ArgumentOutOfRangeException(nameof(tamper));
        }

        string path = Path.Combine(_data, "keystore", target);
        File.WriteAllText(path, a.ToJsonString());
        byte[] tampered = File.ReadAllBytes(path);

        using (var store = OpenStore())
        {
            var refused = Assert.Throws<KeyStoreUnavailableException>(() => store.FindKey(label));
            Assert.Equal(reason, refused.Reason);
            Assert.StartsWith(reason + ": ", refused.Message, StringComparison.Ordinal);
            Assert.Equal(reason, Assert.Throws<KeyStoreUnavailableException>(() => store.SignHash(new SignHashRequest(label, Digest, SignatureScheme.EcdsaSha256))).Reason);

            // The untouched records still serve.
            Assert.NotNull(store.FindKey("b"));
            Assert.Equal(32, store.AsRecordAuthenticator()!.ComputeMac("m", Digest).Length);
        }

        Assert.Equal(tampered, File.ReadAllBytes(path));
    }

    [Fact]
    [Trait("Attack", "A73")]
    public void A_record_sealed_under_another_key_file_names_the_wrong_sealing_key()
    {
        using (var store = OpenStore())
        {
            store.CreateKey(new CreateKeyRequest("a", KeyAlgorithm.EcP256, KeyUsage.Sign));
        }

        File.Delete(Path.Combine(_data, KeyFileName));
        OwnerOnlyFile.CreateNew(Path.Combine(_data, KeyFileName), RandomNumberGenerator.GetBytes(32));
        using var reopened = OpenStore();
        Assert.Equal(SealedKeyErrors.WrongSealingKey, Assert.Throws<KeyStoreUnavailableException>(() => reopened.FindKey("a")).Reason);
    }

    [Theory]
    [InlineData("key-pair")]
    [InlineData("mac-key")]
    public void A_format_one_record_still_opens_and_is_not_rewritten(string kind)
    {
        OwnerOnlyFile.CreateNew(Path.Combine(_data, KeyFileName), KnownKey);
        Directory.CreateDirectory(Path.Combine(_data, "keystore"));
        byte[] data = Encoding.UTF8.GetBytes("a row");
        string path;
        if (kind == "key-pair")
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            path = WriteFormatOne("old.key.json", new JsonObject
            {
                ["Label"] = "old",
                ["Algorithm"] = "EcP256",
                ["Usage"] = "Sign",
                ["SubjectPublicKeyInfo"] = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()),
                ["Sealed"] = Convert.ToBase64String(SealFormatOne("old", key.ExportPkcs8PrivateKey())),
            });
            byte[] before = File.ReadAllBytes(path);
            using var store = OpenStore();
            var found = store.FindKey("old")!;
            Assert.Equal(KeyUsage.Sign, found.Usage);
            byte[] signature = store.SignHash(new SignHashRequest("old", Digest, SignatureScheme.EcdsaSha256));
            Assert.True(key.VerifyHash(Digest, signature));
            Assert.Equal(before, File.ReadAllBytes(path));
        }
        else
        {
            byte[] secret = RandomNumberGenerator.GetBytes(32);
            path = WriteFormatOne("old.mac.json", new JsonObject { ["Label"] = "old", ["Sealed"] = Convert.ToBase64String(SealFormatOne("mac:old", secret)) });
            byte[] before = File.ReadAllBytes(path);
            using var store = OpenStore();
            Assert.Equal(HMACSHA256.HashData(secret, data), store.AsRecordAuthenticator()!.ComputeMac("old", data));
            Assert.Equal(before, File.ReadAllBytes(path));
        }
    }

    [Fact]
    public void A_format_one_blob_sealed_for_another_label_does_not_open()
    {
        OwnerOnlyFile.CreateNew(Path.Combine(_data, KeyFileName), KnownKey);
        Directory.CreateDirectory(Path.Combine(_data, "keystore"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        WriteFormatOne("old.key.json", new JsonObject
        {
            ["Label"] = "old",
            ["Algorithm"] = "EcP256",
            ["Usage"] = "Sign",
            ["SubjectPublicKeyInfo"] = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()),
            ["Sealed"] = Convert.ToBase64String(SealFormatOne("other", key.ExportPkcs8PrivateKey())),
        });
        using var store = OpenStore();
        Assert.Equal(SealedKeyErrors.DoesNotOpen, Assert.Throws<KeyStoreUnavailableException>(() => store.FindKey("old")).Reason);
    }

    [Theory]
    [Trait("Attack", "A74")]
    [InlineData(0b110_100_000)] // 0640
    [InlineData(0b110_000_100)] // 0604
    [InlineData(0b110_100_100)] // 0644
    [InlineData(0b110_110_000)] // 0660
    [InlineData(0b110_000_010)] // 0602
    public void A_sealing_key_file_that_group_or_others_may_access_is_refused_naming_file_and_mode(int mode)
    {
        string keyFile = Path.Combine(_data, KeyFileName);
        OwnerOnlyFile.CreateNew(keyFile, KnownKey);
        File.SetUnixFileMode(keyFile, (UnixFileMode)mode);
        var refused = Assert.Throws<KeyStoreConfigurationException>(OpenStore);
        Assert.Equal("key-file", refused.Field);
        string octal = "0" + Convert.ToString(mode, 8);
        Assert.Contains($"'{keyFile}' has mode {octal}: group and others must have no access", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', refused.Message);
        Assert.Equal((UnixFileMode)mode, File.GetUnixFileMode(keyFile));
        Assert.False(Directory.Exists(Path.Combine(_data, "keystore")));
    }

    [Fact]
    public void The_store_creates_its_key_file_0600_and_its_folder_0700_and_opens_a_0400_key_file()
    {
        using (var store = OpenStore())
        {
            store.CreateKey(new CreateKeyRequest("a", KeyAlgorithm.EcP256, KeyUsage.Sign));
        }

        string keyFile = Path.Combine(_data, KeyFileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_data, "keystore")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_data, "keystore", "a.key.json")));
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead);
        using var reopened = OpenStore();
        Assert.NotNull(reopened.FindKey("a"));
    }

    private IKeyStore OpenStore() =>
        new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse($"software:path=keystore?key-file={KeyFileName}"), new KeyStoreOpenContext(_data, Production: false));

    private JsonObject ReadRecord(string file) => JsonNode.Parse(File.ReadAllText(Path.Combine(_data, "keystore", file)))!.AsObject();

    private string WriteFormatOne(string file, JsonObject record)
    {
        string path = Path.Combine(_data, "keystore", file);
        OwnerOnlyFile.CreateNew(path, Encoding.UTF8.GetBytes(record.ToJsonString()));
        return path;
    }

    /// <summary>Format 1 as written before format 2, built here independently: AES-256-GCM, associated data "OpenHGS-software-key-v1:" + label.</summary>
    private static byte[] SealFormatOne(string label, byte[] plaintext)
    {
        byte[] output = new byte[12 + plaintext.Length + 16];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var aes = new AesGcm(KnownKey, 16);
        aes.Encrypt(output.AsSpan(0, 12), plaintext, output.AsSpan(12, plaintext.Length), output.AsSpan(12 + plaintext.Length),
            Encoding.UTF8.GetBytes("OpenHGS-software-key-v1:" + label));
        return output;
    }
}
