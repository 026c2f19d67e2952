using System.Buffers.Binary;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>
/// The exact bytes an endorsement signs. An endorsement is the parent wrapping's statement "this guardian, with
/// these two certificates, has this place in this key protector".
/// </summary>
/// <remarks>
/// <para>Layout: six fields, each a 4-byte big-endian length followed by that many bytes:</para>
/// <list type="number">
/// <item>the ASCII domain separator <c>OpenHGS-KP-Endorsement-v1</c>;</item>
/// <item>UTF-8 of the wrapping id;</item>
/// <item>UTF-8 of the parent id, or zero bytes for the owner (ids are never empty, so this is unambiguous);</item>
/// <item>UTF-8 of the guardian name;</item>
/// <item>the signing certificate, DER;</item>
/// <item>the encryption certificate, DER.</item>
/// </list>
/// <para>
/// Security contract: the length prefixes make the encoding injective (no two field tuples share bytes), and
/// the domain separator keeps an endorsement from being replayed as any other RS256 signature the same key makes
/// (a guardian signature signs JSON, which starts with <c>{</c>, never with a zero length byte).
/// </para>
/// </remarks>
public static class KeyProtectorEndorsement
{
    /// <summary>The domain separator, first field of every endorsement.</summary>
    public const string DomainSeparator = "OpenHGS-KP-Endorsement-v1";

    /// <summary>The bytes the endorsement of <paramref name="wrapping"/> signs.</summary>
    public static byte[] GetSignedBytes(KeyProtectorWrapping wrapping)
    {
        ArgumentNullException.ThrowIfNull(wrapping);
        return GetSignedBytes(wrapping.Id, wrapping.ParentId, wrapping.GuardianName, wrapping.SigningCertificate, wrapping.EncryptionCertificate);
    }

    /// <summary>The bytes an endorsement of these fields signs.</summary>
    public static byte[] GetSignedBytes(string id, string? parentId, string guardianName, ReadOnlySpan<byte> signingCertificate, ReadOnlySpan<byte> encryptionCertificate)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(guardianName);
        if (parentId is { Length: 0 })
        {
            throw new ArgumentException("A parent id is null (owner) or non-empty.", nameof(parentId));
        }

        var utf8 = System.Text.Encoding.UTF8;
        byte[] domain = System.Text.Encoding.ASCII.GetBytes(DomainSeparator);
        byte[] idBytes = utf8.GetBytes(id);
        byte[] parentBytes = parentId is null ? [] : utf8.GetBytes(parentId);
        byte[] nameBytes = utf8.GetBytes(guardianName);

        const int Fields = 6;
        int length = (Fields * sizeof(uint)) + domain.Length + idBytes.Length + parentBytes.Length + nameBytes.Length + signingCertificate.Length + encryptionCertificate.Length;
        byte[] result = new byte[length];
        int offset = 0;
        Append(result, ref offset, domain);
        Append(result, ref offset, idBytes);
        Append(result, ref offset, parentBytes);
        Append(result, ref offset, nameBytes);
        Append(result, ref offset, signingCertificate);
        Append(result, ref offset, encryptionCertificate);
        return result;
    }

    private static void Append(byte[] destination, ref int offset, ReadOnlySpan<byte> field)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination.AsSpan(offset, 4), (uint)field.Length);
        field.CopyTo(destination.AsSpan(offset + 4));
        offset += 4 + field.Length;
    }
}
