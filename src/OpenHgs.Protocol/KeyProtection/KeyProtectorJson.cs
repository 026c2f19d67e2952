using System.Buffers;
using System.Text.Json;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>Reads and writes the key protector wire form strictly (see <see cref="KeyProtector"/>).</summary>
internal static class KeyProtectorJson
{
    /// <summary>Longest wrapping id, in characters.</summary>
    public const int MaxIdLength = 64;

    /// <summary>Largest RSA signature or wrapped key (RSA-8192).</summary>
    public const int MaxRsaValueBytes = CertificateChecks.MaxRsaBits / 8;

    /// <summary>Length of an HS256 value.</summary>
    public const int HmacBytes = 32;

    private static readonly string[] EnvelopeMembers = ["version", "payload", "guardianSignature", "transportKeySignature"];
    private static readonly string[] SignerMembers = ["wrappingId", "alg", "value"];
    private static readonly string[] AlgorithmValueMembers = ["alg", "value"];
    private static readonly string[] PayloadMembers = ["wrappings"];
    private static readonly string[] WrappingMembers = ["id", "parentId", "guardianName", "signingCertificate", "encryptionCertificate", "endorsement", "wrappedKey"];

    public static KeyProtector Read(ReadOnlySpan<byte> json)
    {
        if (json.Length > KeyProtector.MaxBytes)
        {
            throw new KeyProtectorException(KeyProtectorError.Oversized, $"A key protector is at most {KeyProtector.MaxBytes} bytes; this one is {json.Length}.");
        }

        byte[] copy = json.ToArray();
        using var document = Translate(() => StrictJsonObject.ParseDocument(copy));
        var root = document.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("version", out var version) && version.ValueKind == JsonValueKind.Number
            && !(version.TryGetInt32(out int v) && v is >= KeyProtector.MinVersion and <= KeyProtector.CurrentVersion))
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedVersion, $"Key protector version {version.GetRawText()} is not supported; this code reads versions {KeyProtector.MinVersion} to {KeyProtector.CurrentVersion}.");
        }

        return Translate(() =>
        {
            var envelope = StrictJsonObject.From(root, "keyProtector", EnvelopeMembers);
            int formatVersion = envelope.GetInt32("version");
            if (formatVersion is < KeyProtector.MinVersion or > KeyProtector.CurrentVersion)
            {
                throw envelope.Invalid("version", $"must be {KeyProtector.MinVersion} to {KeyProtector.CurrentVersion}.");
            }

            byte[] payload = Base64UrlMember(envelope, "payload", 1, KeyProtector.MaxBytes);
            var signer = envelope.GetObject("guardianSignature", SignerMembers);
            string wrappingId = Id(signer, "wrappingId");
            string signatureAlgorithm = GuardianSignatureAlgorithm(signer, formatVersion);
            var guardianSignature = new KeyProtectorSignature(
                wrappingId,
                signatureAlgorithm,
                signatureAlgorithm == KeyProtectorAlgorithms.ES256
                    ? Base64UrlMember(signer, "value", KeyProtectorAlgorithms.Es256Bytes, KeyProtectorAlgorithms.Es256Bytes)
                    : Base64UrlMember(signer, "value", 1, MaxRsaValueBytes));
            var mac = envelope.GetObject("transportKeySignature", AlgorithmValueMembers);
            var transportKeySignature = new KeyProtectorSignature(
                null,
                Algorithm(mac, KeyProtectorAlgorithms.HS256),
                Base64UrlMember(mac, "value", HmacBytes, HmacBytes));
            return new KeyProtector(payload, ReadPayload(payload), guardianSignature, transportKeySignature);
        });
    }

    /// <summary>The compact UTF-8 JSON payload <c>{"wrappings":[...]}</c>.</summary>
    public static byte[] WritePayload(IEnumerable<KeyProtectorWrapping> wrappings)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, StrictJsonObject.WriterOptions(indented: false)))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("wrappings");
            foreach (var wrapping in wrappings)
            {
                writer.WriteStartObject();
                writer.WriteString("id", wrapping.Id);
                writer.WriteString("parentId", wrapping.ParentId);
                writer.WriteString("guardianName", wrapping.GuardianName);
                writer.WriteString("signingCertificate", Base64Url.Encode(wrapping.SigningCertificate));
                writer.WriteString("encryptionCertificate", Base64Url.Encode(wrapping.EncryptionCertificate));
                WriteAlgorithmValue(writer, "endorsement", wrapping.Endorsement.Algorithm, wrapping.Endorsement.Value);
                WriteAlgorithmValue(writer, "wrappedKey", wrapping.WrappedKey.Algorithm, wrapping.WrappedKey.Value);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The indented UTF-8 JSON envelope around exact payload bytes.</summary>
    public static byte[] WriteEnvelope(ReadOnlySpan<byte> payload, KeyProtectorSignature guardianSignature, KeyProtectorSignature transportKeySignature)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, StrictJsonObject.WriterOptions(indented: true)))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", KeyProtector.VersionFor(guardianSignature.Algorithm));
            writer.WriteString("payload", Base64Url.Encode(payload));
            writer.WriteStartObject("guardianSignature");
            writer.WriteString("wrappingId", guardianSignature.WrappingId);
            writer.WriteString("alg", guardianSignature.Algorithm);
            writer.WriteString("value", Base64Url.Encode(guardianSignature.Value));
            writer.WriteEndObject();
            WriteAlgorithmValue(writer, "transportKeySignature", transportKeySignature.Algorithm, transportKeySignature.Value);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static List<KeyProtectorWrapping> ReadPayload(byte[] payload)
    {
        using var document = StrictJsonObject.ParseDocument(payload);
        var fields = StrictJsonObject.From(document.RootElement, "payload", PayloadMembers);
        var array = fields.GetArray("wrappings");
        int count = array.GetArrayLength();
        if (count > KeyProtector.MaxWrappings)
        {
            throw new KeyProtectorException(KeyProtectorError.Oversized, $"A key protector has at most {KeyProtector.MaxWrappings} wrappings; this one has {count}.");
        }

        var wrappings = new List<KeyProtectorWrapping>(count);
        int index = 0;
        foreach (var element in array.EnumerateArray())
        {
            wrappings.Add(ReadWrapping(StrictJsonObject.From(element, $"payload.wrappings[{index++}]", WrappingMembers)));
        }

        return wrappings;
    }

    private static KeyProtectorWrapping ReadWrapping(StrictJsonObject fields)
    {
        string id = Id(fields, "id");
        string? parentId = fields.GetStringOrNull("parentId") is null ? null : Id(fields, "parentId");
        string name = fields.GetString("guardianName");
        if (!GuardianMetadata.IsValidName(name))
        {
            throw fields.Invalid("guardianName", "is not a valid guardian name.");
        }

        var endorsement = fields.GetObject("endorsement", AlgorithmValueMembers);
        var wrappedKey = fields.GetObject("wrappedKey", AlgorithmValueMembers);
        string wrapAlgorithm = wrappedKey.GetString("alg");
        if (!KeyProtectorAlgorithms.IsWrapAlgorithm(wrapAlgorithm))
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Wrapping '{id}' uses wrap algorithm '{wrapAlgorithm}'; allowed: {string.Join(", ", KeyProtectorAlgorithms.WrapAlgorithms)}.");
        }

        return new KeyProtectorWrapping(
            id,
            parentId,
            name,
            Certificate(fields, "signingCertificate"),
            Certificate(fields, "encryptionCertificate"),
            new KeyProtectorSignature(null, Algorithm(endorsement, KeyProtectorAlgorithms.RS256), Base64UrlMember(endorsement, "value", 1, MaxRsaValueBytes)),
            new WrappedKey(wrapAlgorithm, Base64UrlMember(wrappedKey, "value", 1, MaxRsaValueBytes)));
    }

    private static string Id(StrictJsonObject fields, string name)
    {
        string id = fields.GetString(name);
        return id.Length is > 0 and <= MaxIdLength && id.All(Base64Url.IsAlphabet)
            ? id
            : throw fields.Invalid(name, $"must be 1 to {MaxIdLength} base64url characters.");
    }

    private static string Algorithm(StrictJsonObject fields, string expected)
    {
        string algorithm = fields.GetString("alg");
        return algorithm == expected
            ? algorithm
            : throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Algorithm '{algorithm}' where only '{expected}' is allowed.");
    }

    /// <summary>
    /// The guardian signature's <c>alg</c>, which must be the one <paramref name="formatVersion"/> carries: RS256 in
    /// version 1, ES256 in version 2 (one encoding per key protector, so version 1 readers never meet ES256).
    /// </summary>
    private static string GuardianSignatureAlgorithm(StrictJsonObject signer, int formatVersion)
    {
        string algorithm = signer.GetString("alg");
        if (!KeyProtectorAlgorithms.GuardianSignatureAlgorithms.Contains(algorithm))
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Guardian signature algorithm '{algorithm}' is not allowed; allowed: {string.Join(", ", KeyProtectorAlgorithms.GuardianSignatureAlgorithms)}.");
        }

        int expected = KeyProtector.VersionFor(algorithm);
        return expected == formatVersion
            ? algorithm
            : throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"A version {formatVersion} key protector cannot carry a {algorithm} guardian signature ({algorithm} is version {expected}).");
    }

    private static byte[] Certificate(StrictJsonObject fields, string name)
    {
        byte[] der = Base64UrlMember(fields, name, 1, CertificateChecks.MaxCertificateBytes);
        return CertificateChecks.TryParse(der) is not null
            ? der
            : throw fields.Invalid(name, "is not one DER X.509 certificate.");
    }

    private static byte[] Base64UrlMember(StrictJsonObject fields, string name, int minBytes, int maxBytes)
    {
        string text = fields.GetString(name);
        if (text.Length > ((maxBytes * 4) + 2) / 3 || !Base64Url.TryDecode(text, out byte[]? data))
        {
            throw fields.Invalid(name, "is not strict base64url of an acceptable length.");
        }

        return data.Length >= minBytes && data.Length <= maxBytes
            ? data
            : throw fields.Invalid(name, $"must decode to {minBytes} to {maxBytes} bytes, not {data.Length}.");
    }

    private static void WriteAlgorithmValue(Utf8JsonWriter writer, string name, string algorithm, byte[] value)
    {
        writer.WriteStartObject(name);
        writer.WriteString("alg", algorithm);
        writer.WriteString("value", Base64Url.Encode(value));
        writer.WriteEndObject();
    }

    private static T Translate<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (JsonShapeException ex)
        {
            throw new KeyProtectorException(KeyProtectorError.Malformed, ex.Message, ex);
        }
    }
}
