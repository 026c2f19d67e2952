using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using LowLevel80 = Net.Pkcs11Interop.LowLevelAPI80;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>Turns the store's signature schemes and OAEP hashes into PKCS#11 mechanisms and inputs.</summary>
internal static class Pkcs11Mechanisms
{
    /// <summary>DER prefix of DigestInfo { sha256, NULL, OCTET STRING(32) }; CKM_RSA_PKCS signs DigestInfo ‖ hash.</summary>
    private static ReadOnlySpan<byte> Sha256DigestInfoPrefix =>
        [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

    /// <summary>The digest length a scheme signs.</summary>
    public static int HashLength(SignatureScheme scheme) => scheme switch
    {
        SignatureScheme.RsaPkcs1Sha256 or SignatureScheme.RsaPssSha256 or SignatureScheme.EcdsaSha256 => 32,
        SignatureScheme.EcdsaSha384 => 48,
        _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "unknown signature scheme"),
    };

    public static bool IsRsa(SignatureScheme scheme) => scheme is SignatureScheme.RsaPkcs1Sha256 or SignatureScheme.RsaPssSha256;

    /// <summary>
    /// The mechanism and the bytes to hand to C_Sign. ECDSA uses plain CKM_ECDSA over the caller's digest
    /// (SoftHSM2 2.6 has no CKM_ECDSA_SHA256), whose output is already r‖s as .NET expects.
    /// </summary>
    public static IMechanism ForSignature(ISession session, SignatureScheme scheme, byte[] hash, out byte[] signInput)
    {
        var mechanisms = session.Factories.MechanismFactory;
        switch (scheme)
        {
            case SignatureScheme.RsaPkcs1Sha256:
                signInput = [.. Sha256DigestInfoPrefix, .. hash];
                return mechanisms.Create(CKM.CKM_RSA_PKCS);
            case SignatureScheme.RsaPssSha256:
                signInput = hash;
                var pss = session.Factories.MechanismParamsFactory.CreateCkRsaPkcsPssParams(
                    (ulong)CKM.CKM_SHA256, (ulong)CKG.CKG_MGF1_SHA256, 32);
                return mechanisms.Create(CKM.CKM_RSA_PKCS_PSS, pss);
            default:
                signInput = hash;
                return mechanisms.Create(CKM.CKM_ECDSA);
        }
    }

    /// <summary>CKM_RSA_PKCS_OAEP with the same hash for the label digest and MGF1, and an empty label.</summary>
    public static IMechanism ForOaep(ISession session, OaepHash hash)
    {
        (CKM hashAlgorithm, CKG mgf) = hash switch
        {
            OaepHash.Sha1 => (CKM.CKM_SHA_1, CKG.CKG_MGF1_SHA1),
            OaepHash.Sha256 => (CKM.CKM_SHA256, CKG.CKG_MGF1_SHA256),
            _ => throw new ArgumentOutOfRangeException(nameof(hash), hash, "unknown OAEP hash"),
        };
        var parameters = session.Factories.MechanismParamsFactory.CreateCkRsaPkcsOaepParams(
            (ulong)hashAlgorithm, (ulong)mgf, (ulong)CKZ.CKZ_DATA_SPECIFIED, null);
        return session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP, parameters);
    }
}

/// <summary>
/// C_Decrypt into a buffer the store owns, so no copy of the plaintext is left behind for the garbage collector.
/// </summary>
/// <remarks>
/// Pkcs11Interop's high-level Decrypt allocates a modulus-sized buffer and then Array.Resize()s it to the
/// plaintext length, abandoning an un-zeroed copy of the plaintext on the heap. Where the platform uses the
/// 64-bit Unix low-level API (Linux and macOS on x64/arm64) this class calls C_DecryptInit/C_Decrypt directly
/// into a pinned buffer, copies out exactly the plaintext and zeroes the buffer. Elsewhere it falls back to the
/// high-level call.
/// </remarks>
internal static class Pkcs11Decryption
{
    public static bool CanZero(LowLevelPkcs11Library? lowLevelLibrary) => lowLevelLibrary is LowLevel80.Pkcs11Library;

    public static byte[] Decrypt(LowLevelPkcs11Library? lowLevelLibrary, ISession session, IMechanism mechanism, IObjectHandle key, byte[] ciphertext)
    {
        if (lowLevelLibrary is not LowLevel80.Pkcs11Library library)
        {
            return session.Decrypt(mechanism, key, ciphertext);
        }

        // The CK_MECHANISM points into unmanaged memory owned by `mechanism`, which the caller keeps alive.
        var ckMechanism = (LowLevel80.CK_MECHANISM)mechanism.ToMarshalableStructure();
        CKR rv = library.C_DecryptInit(session.SessionId, ref ckMechanism, key.ObjectId);
        if (rv != CKR.CKR_OK)
        {
            throw new Pkcs11Exception("C_DecryptInit", rv);
        }

        // RSA plaintext never exceeds the ciphertext (= modulus) length, so one call with this buffer suffices.
        byte[] buffer = GC.AllocateArray<byte>(Math.Max(ciphertext.Length, 1), pinned: true);
        try
        {
            ulong length = (ulong)buffer.Length;
            rv = library.C_Decrypt(session.SessionId, ciphertext, (ulong)ciphertext.Length, buffer, ref length);
            if (rv != CKR.CKR_OK)
            {
                throw new Pkcs11Exception("C_Decrypt", rv);
            }

            return buffer.AsSpan(0, checked((int)length)).ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }
}
