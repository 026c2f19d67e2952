using System.Text;
using System.Text.Json;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

/// <summary>Known-answer tests from <c>Vectors/key-protector-v1.json</c>, and that the file and the doc are current.</summary>
public sealed class KeyProtectorVectorTests
{
    private static readonly Lazy<JsonDocument> Vectors = new(() =>
        KeyProtectorVectors.Load() ?? throw new InvalidOperationException($"{RepositoryFiles.VectorFile} is missing; run with OPENHGS_WRITE_VECTORS=1 to create it."));

    private static JsonElement Root => Vectors.Value.RootElement;

    [Fact]
    public void The_vector_file_is_current()
    {
        using var existing = KeyProtectorVectors.Load();
        string expected = KeyProtectorVectors.Render(existing);
        if (Environment.GetEnvironmentVariable("OPENHGS_WRITE_VECTORS") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(RepositoryFiles.VectorFile)!);
            File.WriteAllText(RepositoryFiles.VectorFile, expected);
        }

        Assert.Equal(expected, File.ReadAllText(RepositoryFiles.VectorFile));
    }

    public static TheoryData<int> EndorsementIndexes() => [.. Enumerable.Range(0, KeyProtectorVectors.Endorsements.Length)];

    [Theory]
    [MemberData(nameof(EndorsementIndexes))]
    public void Endorsement_bytes_and_signature_match(int index)
    {
        var input = KeyProtectorVectors.Endorsements[index];
        var vector = Root.GetProperty("endorsements")[index];
        Assert.Equal(input.Name, vector.GetProperty("name").GetString());

        byte[] signed = KeyProtectorEndorsement.GetSignedBytes(
            vector.GetProperty("id").GetString()!,
            vector.GetProperty("parentId").GetString(),
            vector.GetProperty("guardianName").GetString()!,
            Convert.FromHexString(vector.GetProperty("signingCertificateHex").GetString()!),
            Convert.FromHexString(vector.GetProperty("encryptionCertificateHex").GetString()!));

        Assert.Equal(vector.GetProperty("signedBytesHex").GetString(), Convert.ToHexStringLower(signed));
        using var owner = KeyProtectorVectors.Owner(Vectors.Value);
        Assert.Equal(vector.GetProperty("rs256ByOwner").GetString(), KeyProtectorVectors.Sign(owner.SigningKey, signed));
    }

    [Fact]
    public void Endorsement_bytes_follow_the_documented_layout()
    {
        var e = KeyProtectorVectors.Endorsements[1];
        byte[] signed = KeyProtectorEndorsement.GetSignedBytes(e.Id, e.ParentId, e.GuardianName, e.SigningCertificate, e.EncryptionCertificate);

        byte[] expected = [
            .. Field("OpenHGS-KP-Endorsement-v1"u8), .. Field(Encoding.UTF8.GetBytes(e.Id)), .. Field(Encoding.UTF8.GetBytes(e.ParentId!)),
            .. Field(Encoding.UTF8.GetBytes(e.GuardianName)), .. Field(e.SigningCertificate), .. Field(e.EncryptionCertificate)];
        Assert.Equal(expected, signed);

        // The owner's empty parent field is distinct from every real parent id.
        var owner = KeyProtectorVectors.Endorsements[0];
        Assert.Equal([0, 0, 0, 0], KeyProtectorEndorsement.GetSignedBytes(owner.Id, null, owner.GuardianName, owner.SigningCertificate, owner.EncryptionCertificate)[(4 + 25 + 4 + 22)..(4 + 25 + 4 + 22 + 4)]);
        Assert.Throws<ArgumentException>(() => KeyProtectorEndorsement.GetSignedBytes(owner.Id, "", owner.GuardianName, owner.SigningCertificate, owner.EncryptionCertificate));

        static byte[] Field(ReadOnlySpan<byte> value) => [(byte)(value.Length >> 24), (byte)(value.Length >> 16), (byte)(value.Length >> 8), (byte)value.Length, .. value];
    }

    [Fact]
    public void Transport_key_signature_matches()
    {
        var vector = Root.GetProperty("transportKeySignature");
        byte[] key = Convert.FromHexString(vector.GetProperty("transportKeyHex").GetString()!);
        byte[] payload = Encoding.UTF8.GetBytes(vector.GetProperty("payload").GetString()!);

        Assert.Equal(vector.GetProperty("hs256").GetString(), Base64Url.Encode(System.Security.Cryptography.HMACSHA256.HashData(key, payload)));
    }

    [Fact]
    public void Guardian_signature_matches()
    {
        var vector = Root.GetProperty("guardianSignature");
        using var owner = KeyProtectorVectors.Owner(Vectors.Value);

        Assert.Equal(vector.GetProperty("rs256ByOwner").GetString(), KeyProtectorVectors.Sign(owner.SigningKey, Encoding.UTF8.GetBytes(vector.GetProperty("payload").GetString()!)));
    }

    [Fact]
    public void The_stored_key_protector_verifies_and_unwraps()
    {
        var vector = Root.GetProperty("keyProtector");
        byte[] json = Encoding.UTF8.GetBytes(vector.GetProperty("json").GetString()!);
        byte[] transportKey = Convert.FromHexString(vector.GetProperty("transportKeyHex").GetString()!);
        using var owner = KeyProtectorVectors.Owner(Vectors.Value);
        using var guardian = KeyProtectorVectors.Guardian(Vectors.Value);

        var kp = KeyProtector.Parse(json);
        KeyProtectorVerifier.VerifySignatures(kp);
        KeyProtectorVerifier.VerifyTransportKey(kp, transportKey);
        Assert.Equal(1, kp.Version); // an RS256 key protector from before ES256 keeps its version and verifies unchanged

        Assert.Equal(json, kp.ToJson());
        Assert.Equal(kp.Payload.ToArray(), Forge.WritePayload(kp.Wrappings));
        Assert.Equal("RSA-OAEP-256", kp.Owner.WrappedKey.Algorithm);
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(kp, owner));
        var wrapping = kp.FindWrappingForEncryptionCertificate(guardian.Metadata.EncryptionCertificate)!;
        Assert.Equal("RSA-OAEP", wrapping.WrappedKey.Algorithm);
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(kp, wrapping, guardian.EncryptionKey));
    }

    [Fact]
    public void The_doc_shows_the_current_vector_values()
    {
        string doc = File.ReadAllText(RepositoryFiles.KeyProtectorDoc);
        foreach (var vector in Root.GetProperty("endorsements").EnumerateArray())
        {
            Assert.Contains(vector.GetProperty("signedBytesHex").GetString()!, doc, StringComparison.Ordinal);
            Assert.Contains(vector.GetProperty("rs256ByOwner").GetString()!, doc, StringComparison.Ordinal);
        }

        Assert.Contains(Root.GetProperty("transportKeySignature").GetProperty("hs256").GetString()!, doc, StringComparison.Ordinal);
        Assert.Contains(Root.GetProperty("guardianSignature").GetProperty("rs256ByOwner").GetString()!, doc, StringComparison.Ordinal);
    }
}
