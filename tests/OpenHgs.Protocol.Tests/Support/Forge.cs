using System.Buffers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Protocol.Tests.Support;

/// <summary>
/// An independent writer of the key protector format, for building documents the builder never would
/// (tampered, attacker-made, structurally broken). A test checks it writes exactly what the builder writes.
/// </summary>
internal static class Forge
{
    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] WritePayload(IEnumerable<KeyProtectorWrapping> wrappings)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Compact))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("wrappings");
            foreach (var w in wrappings)
            {
                writer.WriteStartObject();
                writer.WriteString("id", w.Id);
                writer.WriteString("parentId", w.ParentId);
                writer.WriteString("guardianName", w.GuardianName);
                writer.WriteString("signingCertificate", Base64Url.Encode(w.SigningCertificate));
                writer.WriteString("encryptionCertificate", Base64Url.Encode(w.EncryptionCertificate));
                writer.WriteStartObject("endorsement");
                writer.WriteString("alg", w.Endorsement.Algorithm);
                writer.WriteString("value", Base64Url.Encode(w.Endorsement.Value));
                writer.WriteEndObject();
                writer.WriteStartObject("wrappedKey");
                writer.WriteString("alg", w.WrappedKey.Algorithm);
                writer.WriteString("value", Base64Url.Encode(w.WrappedKey.Value));
                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Envelope(ReadOnlySpan<byte> payload, KeyProtectorSignature guardianSignature, KeyProtectorSignature transportKeySignature, int version = 1)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Compact))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", version);
            writer.WriteString("payload", Base64Url.Encode(payload));
            writer.WriteStartObject("guardianSignature");
            writer.WriteString("wrappingId", guardianSignature.WrappingId);
            writer.WriteString("alg", guardianSignature.Algorithm);
            writer.WriteString("value", Base64Url.Encode(guardianSignature.Value));
            writer.WriteEndObject();
            writer.WriteStartObject("transportKeySignature");
            writer.WriteString("alg", transportKeySignature.Algorithm);
            writer.WriteString("value", Base64Url.Encode(transportKeySignature.Value));
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The same payload and transport-key signature, with the guardian signature made by <paramref name="signer"/>.</summary>
    public static byte[] SealJson(IEnumerable<KeyProtectorWrapping> wrappings, RSA signer, string signerId, byte[] transportKey)
    {
        byte[] payload = WritePayload(wrappings);
        return Envelope(
            payload,
            new KeyProtectorSignature(signerId, "RS256", signer.SignData(payload, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)),
            new KeyProtectorSignature(null, "HS256", HMACSHA256.HashData(transportKey, payload)));
    }

    public static KeyProtector Seal(IEnumerable<KeyProtectorWrapping> wrappings, RSA signer, string signerId, byte[] transportKey) =>
        KeyProtector.Parse(SealJson(wrappings, signer, signerId, transportKey));

    /// <summary>A wrapping for <paramref name="guardian"/> endorsed by <paramref name="endorser"/> (whoever that is).</summary>
    public static KeyProtectorWrapping Wrapping(string id, string? parentId, GuardianMetadata guardian, RSA endorser, byte[] transportKey)
    {
        byte[] endorsed = KeyProtectorEndorsement.GetSignedBytes(id, parentId, guardian.Name, guardian.SigningCertificate, guardian.EncryptionCertificate);
        using var certificate = X509CertificateLoader.LoadCertificate(guardian.EncryptionCertificate);
        using var encryptionKey = certificate.GetRSAPublicKey()!;
        string algorithm = guardian.WrapAlgorithms[0];
        return new KeyProtectorWrapping(
            id,
            parentId,
            guardian.Name,
            guardian.SigningCertificate,
            guardian.EncryptionCertificate,
            new KeyProtectorSignature(null, "RS256", endorser.SignData(endorsed, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)),
            new WrappedKey(algorithm, encryptionKey.Encrypt(transportKey, KeyProtectorAlgorithms.GetPadding(algorithm))));
    }

    public static string NewId() => Base64Url.Encode(RandomNumberGenerator.GetBytes(16));

    public static byte[] Flip(ReadOnlySpan<byte> data, int index, byte mask = 0x01)
    {
        byte[] copy = data.ToArray();
        copy[index] ^= mask;
        return copy;
    }
}
