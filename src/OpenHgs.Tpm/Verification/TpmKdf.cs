using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OpenHgs.Tpm.Verification;

/// <summary>TPM 2.0 key derivation (Part 1 §11.4.10.2, KDFa: SP800-108 counter mode with HMAC).</summary>
public static class TpmKdf
{
    /// <summary>
    /// KDFa(hash, key, label, contextU, contextV, bits). <paramref name="label"/> is given without its terminating
    /// NUL; one 0x00 is appended as the spec requires ("STORAGE" → "STORAGE\0").
    /// </summary>
    public static byte[] KdfA(TpmAlgorithm hash, ReadOnlySpan<byte> key, string label, ReadOnlySpan<byte> contextU,
        ReadOnlySpan<byte> contextV, int bits)
    {
        ArgumentNullException.ThrowIfNull(label);
        if (bits <= 0 || bits % 8 != 0 || bits > 8 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(bits), "bits must be a positive multiple of 8, at most 8192.");
        }
        var name = hash.ToHashAlgorithmName();
        var labelBytes = System.Text.Encoding.ASCII.GetBytes(label + "\0");
        var message = new byte[4 + labelBytes.Length + contextU.Length + contextV.Length + 4];
        labelBytes.CopyTo(message, 4);
        contextU.CopyTo(message.AsSpan(4 + labelBytes.Length));
        contextV.CopyTo(message.AsSpan(4 + labelBytes.Length + contextU.Length));
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(message.Length - 4), (uint)bits);

        var output = new byte[bits / 8];
        var produced = 0;
        for (uint counter = 1; produced < output.Length; counter++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(message, counter);
            var block = CryptographicOperations.HmacData(name, key, message);
            var take = Math.Min(block.Length, output.Length - produced);
            block.AsSpan(0, take).CopyTo(output.AsSpan(produced));
            produced += take;
        }
        return output;
    }
}
