using System.Text.Json;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// The public half of a guardian: its name, its signing and encryption certificates (DER) and the wrap
/// algorithms it can unwrap, preferred first. A fabric exports this for tenants to import; a tenant's own
/// guardian carries it inside its private owner file.
/// </summary>
/// <remarks>
/// Security contract: <see cref="Validate"/> (and therefore <see cref="Parse"/>) accepts metadata only when the
/// signing certificate is self-signed, the encryption certificate is signed by the signing certificate's key
/// (RSASSA-PKCS1-v1_5 or, for an EC signing key, ECDSA, with SHA-2), the signing key is RSA of 2048–8192 bits or EC
/// P-256 (a key protection service's, which signs rolled key protectors ES256), the encryption key is RSA of 2048–8192
/// bits, and every wrap algorithm is known. A guardian with an EC signing key cannot be a key protector's owner (owners
/// endorse, and endorsements are RS256). It does
/// not check validity dates and does not establish that the guardian is who it claims to be: a tenant must get
/// a fabric's metadata from that fabric over an authenticated channel. Treat the arrays as read-only.
/// </remarks>
public sealed record GuardianMetadata(string Name, byte[] SigningCertificate, byte[] EncryptionCertificate, IReadOnlyList<string> WrapAlgorithms)
{
    /// <summary>The <c>kind</c> of a metadata document.</summary>
    public const string Kind = "openhgs-guardian-metadata";

    /// <summary>The format version this code writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Longest guardian name, in UTF-16 code units.</summary>
    public const int MaxNameLength = 64;

    /// <summary>Largest guardian document accepted, in UTF-8 bytes.</summary>
    public const int MaxDocumentBytes = 64 * 1024;

    private static readonly string[] Members = ["kind", "version", "name", "signingCertificate", "encryptionCertificate", "wrapAlgorithms"];

    /// <summary>The indented JSON metadata document (certificates as base64 DER).</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, StrictJsonObject.WriterOptions(indented: true)))
        {
            WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Parses and <see cref="Validate"/>s a metadata document; throws <see cref="GuardianFormatException"/>.</summary>
    public static GuardianMetadata Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (System.Text.Encoding.UTF8.GetByteCount(json) > MaxDocumentBytes)
        {
            throw new GuardianFormatException(GuardianFormatError.Oversized, $"Guardian metadata is larger than {MaxDocumentBytes} bytes.");
        }

        using var document = GuardianJson.Parse(json);
        return ReadFrom(document.RootElement, "metadata");
    }

    /// <summary>Checks everything <see cref="Parse"/> checks; throws <see cref="GuardianFormatException"/> naming the first problem.</summary>
    public void Validate()
    {
        if (Name is null || !IsValidName(Name))
        {
            throw new GuardianFormatException(GuardianFormatError.InvalidName, $"A guardian name is 1 to {MaxNameLength} characters without control characters or outer whitespace.");
        }

        var signing = CertificateChecks.TryParse(SigningCertificate)
            ?? throw new GuardianFormatException(GuardianFormatError.InvalidCertificate, $"Guardian '{Name}': the signing certificate is not one DER X.509 certificate of at most {CertificateChecks.MaxCertificateBytes} bytes.");
        var encryption = CertificateChecks.TryParse(EncryptionCertificate)
            ?? throw new GuardianFormatException(GuardianFormatError.InvalidCertificate, $"Guardian '{Name}': the encryption certificate is not one DER X.509 certificate of at most {CertificateChecks.MaxCertificateBytes} bytes.");
        if (!signing.HasAcceptedSigningKey)
        {
            throw new GuardianFormatException(GuardianFormatError.UnsupportedKey, $"Guardian '{Name}': the signing certificate's key is neither RSA of {CertificateChecks.MinRsaBits} to {CertificateChecks.MaxRsaBits} bits nor EC P-256.");
        }

        if (!encryption.HasAcceptedRsaKey)
        {
            throw new GuardianFormatException(GuardianFormatError.UnsupportedKey, $"Guardian '{Name}': the encryption certificate's key is not RSA of {CertificateChecks.MinRsaBits} to {CertificateChecks.MaxRsaBits} bits.");
        }

        if (!CertificateChecks.IsSignedBy(signing, signing))
        {
            throw new GuardianFormatException(GuardianFormatError.SigningCertificateNotSelfSigned, $"Guardian '{Name}': the signing certificate is not self-signed with SHA-2 (RSASSA-PKCS1-v1_5 for RSA, ECDSA for P-256).");
        }

        if (!CertificateChecks.IsSignedBy(encryption, signing))
        {
            throw new GuardianFormatException(GuardianFormatError.EncryptionCertificateNotSignedBySigningCertificate, $"Guardian '{Name}': the encryption certificate is not signed by the signing certificate's key.");
        }

        if (WrapAlgorithms is null || WrapAlgorithms.Count == 0 || WrapAlgorithms.Distinct(StringComparer.Ordinal).Count() != WrapAlgorithms.Count)
        {
            throw new GuardianFormatException(GuardianFormatError.InvalidWrapAlgorithms, $"Guardian '{Name}': wrapAlgorithms must list one or more distinct algorithms.");
        }

        foreach (string algorithm in WrapAlgorithms)
        {
            if (!KeyProtectorAlgorithms.IsWrapAlgorithm(algorithm))
            {
                throw new GuardianFormatException(GuardianFormatError.UnknownWrapAlgorithm, $"Guardian '{Name}': unknown wrap algorithm '{algorithm}' (known: {string.Join(", ", KeyProtectorAlgorithms.WrapAlgorithms)}).");
            }
        }
    }

    /// <summary>The wrap algorithm key protectors use for this guardian: its first (preferred) one.</summary>
    public string PreferredWrapAlgorithm => WrapAlgorithms[0];

    /// <summary>1 to <see cref="MaxNameLength"/> characters, no control characters, no leading or trailing whitespace.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= MaxNameLength }
        && !char.IsWhiteSpace(name[0]) && !char.IsWhiteSpace(name[^1])
        && !name.Any(char.IsControl);

    internal void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("kind", Kind);
        writer.WriteNumber("version", CurrentVersion);
        writer.WriteString("name", Name);
        writer.WriteString("signingCertificate", Convert.ToBase64String(SigningCertificate));
        writer.WriteString("encryptionCertificate", Convert.ToBase64String(EncryptionCertificate));
        writer.WriteStartArray("wrapAlgorithms");
        foreach (string algorithm in WrapAlgorithms)
        {
            writer.WriteStringValue(algorithm);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    internal static GuardianMetadata ReadFrom(JsonElement element, string path)
    {
        var fields = GuardianJson.Read(element, path, Kind, Members);
        var algorithms = new List<string>();
        GuardianJson.Translate(() =>
        {
            foreach (var item in fields.GetArray("wrapAlgorithms").EnumerateArray())
            {
                algorithms.Add(item.ValueKind == JsonValueKind.String
                    ? item.GetString()!
                    : throw fields.Invalid("wrapAlgorithms", "must hold only strings."));
            }
        });

        var metadata = new GuardianMetadata(
            GuardianJson.Translate(() => fields.GetString("name")),
            GuardianJson.Base64(fields, "signingCertificate"),
            GuardianJson.Base64(fields, "encryptionCertificate"),
            algorithms.AsReadOnly());
        metadata.Validate();
        return metadata;
    }
}
