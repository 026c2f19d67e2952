using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Protocol.Tests.Support;

/// <summary>
/// The key protector test vectors (<c>Vectors/key-protector-v1.json</c>): fixed keys, the deterministic values
/// (endorsement bytes, RS256 and HS256 results) computed from fixed inputs, and one complete key protector.
/// <see cref="Render"/> recomputes the whole file from its inputs; a test checks the file equals it.
/// </summary>
internal static class KeyProtectorVectors
{
    public const string Payload = """{"wrappings":[]}""";

    public static readonly byte[] HmacTransportKey = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

    public static readonly byte[] KeyProtectorTransportKey = Convert.FromHexString("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");

    /// <summary>Synthetic endorsement inputs: the encoding takes any bytes, so short ones keep the vectors readable.</summary>
    public static readonly EndorsementInput[] Endorsements =
    [
        new("owner endorses itself", "AAECAwQFBgcICQoLDA0ODw", null, "Contoso Tenant", Convert.FromHexString("3003020101"), Convert.FromHexString("3003020102")),
        new("owner endorses a guardian", "EBESExQVFhcYGRobHB0eHw", "AAECAwQFBgcICQoLDA0ODw", "Fabrikam Zürich", Convert.FromHexString("3003020103"), Convert.FromHexString("3003020104")),
    ];

    public sealed record EndorsementInput(string Name, string Id, string? ParentId, string GuardianName, byte[] SigningCertificate, byte[] EncryptionCertificate);

    /// <summary>The stored vectors, or null if the file does not exist yet.</summary>
    public static JsonDocument? Load() =>
        File.Exists(RepositoryFiles.VectorFile) ? JsonDocument.Parse(File.ReadAllBytes(RepositoryFiles.VectorFile)) : null;

    public static LocalGuardian Owner(JsonDocument vectors) => LocalGuardian.Parse(vectors.RootElement.GetProperty("owner").GetRawText());

    public static LocalGuardian Guardian(JsonDocument vectors) => LocalGuardian.Parse(vectors.RootElement.GetProperty("guardian").GetRawText());

    public static string Sign(RSA key, byte[] data) => Base64Url.Encode(key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

    /// <summary>
    /// The vector file as it should be. Keys, certificates and the complete key protector are inputs (taken from
    /// <paramref name="existing"/>, or made fresh when there is none); everything else is computed.
    /// </summary>
    public static string Render(JsonDocument? existing)
    {
        using var owner = existing is null ? NewGuardian("Contoso Tenant", 20, [KeyProtectorAlgorithms.RsaOaep256, KeyProtectorAlgorithms.RsaOaep]) : Owner(existing);
        using var guardian = existing is null ? NewGuardian("Fabrikam SoftHSM", 22, [KeyProtectorAlgorithms.RsaOaep]) : Guardian(existing);
        string keyProtector = existing is null
            ? Encoding.UTF8.GetString(KeyProtectorBuilder.Create(owner, [guardian.Metadata], KeyProtectorTransportKey).ToJson())
            : existing.RootElement.GetProperty("keyProtector").GetProperty("json").GetString()!;

        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, NewLine = "\n", Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("comment", "OpenHGS key protector v1 test vectors; see docs/key-protector.md. Test keys only. Regenerate with OPENHGS_WRITE_VECTORS=1 dotnet test tests/OpenHgs.Protocol.Tests.");
            w.WritePropertyName("owner");
            JsonDocument.Parse(owner.ToJson()).WriteTo(w);
            w.WritePropertyName("guardian");
            JsonDocument.Parse(guardian.ToJson()).WriteTo(w);

            w.WriteStartArray("endorsements");
            foreach (var e in Endorsements)
            {
                byte[] signed = KeyProtectorEndorsement.GetSignedBytes(e.Id, e.ParentId, e.GuardianName, e.SigningCertificate, e.EncryptionCertificate);
                w.WriteStartObject();
                w.WriteString("name", e.Name);
                w.WriteString("id", e.Id);
                w.WriteString("parentId", e.ParentId);
                w.WriteString("guardianName", e.GuardianName);
                w.WriteString("signingCertificateHex", Convert.ToHexStringLower(e.SigningCertificate));
                w.WriteString("encryptionCertificateHex", Convert.ToHexStringLower(e.EncryptionCertificate));
                w.WriteString("signedBytesHex", Convert.ToHexStringLower(signed));
                w.WriteString("rs256ByOwner", Sign(owner.SigningKey, signed));
                w.WriteEndObject();
            }

            w.WriteEndArray();

            byte[] payload = Encoding.UTF8.GetBytes(Payload);
            w.WriteStartObject("transportKeySignature");
            w.WriteString("transportKeyHex", Convert.ToHexStringLower(HmacTransportKey));
            w.WriteString("payload", Payload);
            w.WriteString("hs256", Base64Url.Encode(HMACSHA256.HashData(HmacTransportKey, payload)));
            w.WriteEndObject();

            w.WriteStartObject("guardianSignature");
            w.WriteString("payload", Payload);
            w.WriteString("rs256ByOwner", Sign(owner.SigningKey, payload));
            w.WriteEndObject();

            w.WriteStartObject("keyProtector");
            w.WriteString("transportKeyHex", Convert.ToHexStringLower(KeyProtectorTransportKey));
            w.WriteString("json", keyProtector);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n";
    }

    private static LocalGuardian NewGuardian(string name, int firstKey, IReadOnlyList<string> algorithms)
    {
        var signingKey = TestKeys.Get(firstKey);
        var encryptionKey = TestKeys.Get(firstKey + 1);
        var notBefore = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var (signing, encryption) = GuardianCertificates.Issue(name, signingKey, encryptionKey, notBefore, notBefore.AddYears(30));
        return new LocalGuardian(new GuardianMetadata(name, signing, encryption, algorithms), signingKey, encryptionKey);
    }
}
