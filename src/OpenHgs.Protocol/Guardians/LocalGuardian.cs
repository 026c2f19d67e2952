using System.Security.Cryptography;
using System.Text.Json;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// A guardian whose private keys the caller holds: normally a tenant (VM owner) guardian with local RSA-2048
/// keys, kept in a private owner file (<see cref="ToJson"/>).
/// </summary>
/// <remarks>
/// Security contract: a <see cref="LocalGuardian"/> always holds keys that match its certificates (checked by
/// comparing public keys, so HSM-backed keys work through the public constructor). The owner file
/// (<c>"kind":"openhgs-guardian-private"</c>) contains both private keys unencrypted (PKCS#8, base64): whoever
/// reads it can grant, revoke and unwrap every key protector this guardian owns, so store it like a private key
/// (owner-only permissions, offline backup). Exported key bytes are zeroed after encoding; the returned string
/// cannot be. The guardian owns and disposes its keys.
/// </remarks>
public sealed class LocalGuardian : IDisposable
{
    /// <summary>The <c>kind</c> of a private owner file.</summary>
    public const string Kind = "openhgs-guardian-private";

    /// <summary>How long <see cref="Create"/>'s certificates are valid.</summary>
    public static readonly TimeSpan CertificateLifetime = TimeSpan.FromDays(3653);

    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);
    private static readonly string[] Members = ["kind", "version", "metadata", "signingKey", "encryptionKey"];

    /// <summary>
    /// Pairs validated metadata with its private keys (which may be HSM-backed). On success the guardian owns the
    /// keys and disposes them; on failure they stay the caller's.
    /// </summary>
    /// <exception cref="GuardianFormatException">The metadata is invalid (any reason), or a key does not belong to its certificate (<see cref="GuardianFormatError.KeyMismatch"/>).</exception>
    public LocalGuardian(GuardianMetadata metadata, RSA signingKey, RSA encryptionKey)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(signingKey);
        ArgumentNullException.ThrowIfNull(encryptionKey);
        metadata.Validate();
        RequireMatch(metadata.SigningCertificate, signingKey, "signing");
        RequireMatch(metadata.EncryptionCertificate, encryptionKey, "encryption");
        Metadata = metadata;
        SigningKey = signingKey;
        EncryptionKey = encryptionKey;
    }

    /// <summary>The guardian's public metadata (what a key protector's wrapping for it holds).</summary>
    public GuardianMetadata Metadata { get; }

    /// <summary>Signs endorsements and guardian signatures (RS256).</summary>
    public RSA SigningKey { get; }

    /// <summary>Unwraps transport keys wrapped to <see cref="GuardianMetadata.EncryptionCertificate"/>.</summary>
    public RSA EncryptionKey { get; }

    /// <summary>A new guardian with fresh RSA-2048 keys, certificates valid from 5 minutes ago for ten years, accepting both wrap algorithms.</summary>
    public static LocalGuardian Create(string name, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(time);
        var signingKey = RSA.Create(2048);
        var encryptionKey = RSA.Create(2048);
        try
        {
            var now = time.GetUtcNow();
            var (signingCert, encryptionCert) = GuardianCertificates.Issue(name, signingKey, encryptionKey, now - ClockSkew, now + CertificateLifetime);
            var metadata = new GuardianMetadata(name, signingCert, encryptionCert, KeyProtectorAlgorithms.WrapAlgorithms);
            return new LocalGuardian(metadata, signingKey, encryptionKey);
        }
        catch
        {
            signingKey.Dispose();
            encryptionKey.Dispose();
            throw;
        }
    }

    /// <summary>The private owner file: the metadata and both private keys (PKCS#8, base64), indented JSON.</summary>
    /// <exception cref="CryptographicException">A key cannot be exported (for example, it lives in an HSM).</exception>
    public string ToJson()
    {
        // Sized so it never grows (growing would leave unzeroed copies of the keys behind).
        using var buffer = new MemoryStream(capacity: 32 * 1024);
        using (var writer = new Utf8JsonWriter(buffer, StrictJsonObject.WriterOptions(indented: true)))
        {
            writer.WriteStartObject();
            writer.WriteString("kind", Kind);
            writer.WriteNumber("version", GuardianMetadata.CurrentVersion);
            writer.WritePropertyName("metadata");
            Metadata.WriteTo(writer);
            WritePrivateKey(writer, "signingKey", SigningKey);
            WritePrivateKey(writer, "encryptionKey", EncryptionKey);
            writer.WriteEndObject();
        }

        string json = System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        CryptographicOperations.ZeroMemory(buffer.GetBuffer());
        return json;
    }

    /// <summary>Reads a private owner file, validating the metadata and that each key matches its certificate.</summary>
    /// <exception cref="GuardianFormatException">Anything malformed, with the reason.</exception>
    public static LocalGuardian Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (System.Text.Encoding.UTF8.GetByteCount(json) > GuardianMetadata.MaxDocumentBytes)
        {
            throw new GuardianFormatException(GuardianFormatError.Oversized, $"A guardian file is larger than {GuardianMetadata.MaxDocumentBytes} bytes.");
        }

        using var document = GuardianJson.Parse(json);
        var fields = GuardianJson.Read(document.RootElement, "guardian", Kind, Members);
        var metadata = GuardianMetadata.ReadFrom(fields.GetElement("metadata"), "guardian.metadata");
        var signingKey = ReadPrivateKey(fields, "signingKey");
        RSA? encryptionKey = null;
        try
        {
            encryptionKey = ReadPrivateKey(fields, "encryptionKey");
            return new LocalGuardian(metadata, signingKey, encryptionKey);
        }
        catch
        {
            signingKey.Dispose();
            encryptionKey?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        SigningKey.Dispose();
        EncryptionKey.Dispose();
    }

    private static void RequireMatch(byte[] certificate, RSA key, string which)
    {
        if (!CertificateChecks.CertificateHasKey(certificate, key))
        {
            throw new GuardianFormatException(GuardianFormatError.KeyMismatch, $"The {which} key does not belong to the {which} certificate.");
        }
    }

    private static void WritePrivateKey(Utf8JsonWriter writer, string name, RSA key)
    {
        byte[] pkcs8 = key.ExportPkcs8PrivateKey();
        try
        {
            writer.WriteBase64String(name, pkcs8);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    private static RSA ReadPrivateKey(StrictJsonObject fields, string name)
    {
        byte[] pkcs8 = GuardianJson.Base64(fields, name);
        var key = RSA.Create();
        try
        {
            key.ImportPkcs8PrivateKey(pkcs8, out int read);
            if (read != pkcs8.Length)
            {
                throw new CryptographicException("trailing data after the PKCS#8 structure");
            }

            return key;
        }
        catch (CryptographicException ex)
        {
            key.Dispose();
            throw new GuardianFormatException(GuardianFormatError.InvalidPrivateKey, $"Member '{name}' is not a PKCS#8 RSA private key.", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }
}
