using System.Numerics;
using System.Security.Cryptography;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>
/// RSAES-OAEP encryption with a label (RFC 8017 §7.1.1, MGF1 with the same hash), which .NET's RSA API lacks.
/// Only the public-key operation is done here (no secret-dependent timing concerns).
/// </summary>
public static class RsaOaep
{
    /// <summary>Encrypts <paramref name="message"/> to the RSA key in <paramref name="key"/>.</summary>
    public static byte[] Encrypt(TpmtPublic key, ReadOnlySpan<byte> message, TpmAlgorithm hash, ReadOnlySpan<byte> label)
    {
        ArgumentNullException.ThrowIfNull(key);
        var rsa = key.Rsa ?? throw new ArgumentException("Not an RSA key.", nameof(key));
        var k = rsa.Modulus.Length;
        var hLen = hash.DigestSize();
        if (k < 2 * hLen + 2 || message.Length > k - 2 * hLen - 2)
        {
            throw new ArgumentException("Message too long for the RSA key.", nameof(message));
        }

        // EM = 0x00 ‖ maskedSeed ‖ maskedDB, DB = lHash ‖ PS ‖ 0x01 ‖ M
        var db = new byte[k - hLen - 1];
        hash.Hash(label).CopyTo(db, 0);
        db[db.Length - message.Length - 1] = 0x01;
        message.CopyTo(db.AsSpan(db.Length - message.Length));
        var seed = RandomNumberGenerator.GetBytes(hLen);
        Xor(db, Mgf1(hash, seed, db.Length));
        Xor(seed, Mgf1(hash, db, hLen));
        var em = new byte[k];
        seed.CopyTo(em, 1);
        db.CopyTo(em, 1 + hLen);

        var n = new BigInteger(rsa.Modulus, isUnsigned: true, isBigEndian: true);
        var m = new BigInteger(em, isUnsigned: true, isBigEndian: true);
        var c = BigInteger.ModPow(m, rsa.EffectiveExponent, n);
        var bytes = c.ToByteArray(isUnsigned: true, isBigEndian: true);
        var result = new byte[k];
        bytes.CopyTo(result, k - bytes.Length);
        return result;
    }

    private static byte[] Mgf1(TpmAlgorithm hash, ReadOnlySpan<byte> seed, int length)
    {
        var output = new byte[length];
        var input = new byte[seed.Length + 4];
        seed.CopyTo(input);
        var produced = 0;
        for (uint counter = 0; produced < length; counter++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(seed.Length), counter);
            var block = hash.Hash(input);
            var take = Math.Min(block.Length, length - produced);
            block.AsSpan(0, take).CopyTo(output.AsSpan(produced));
            produced += take;
        }
        return output;
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> mask)
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] ^= mask[i];
        }
    }
}
