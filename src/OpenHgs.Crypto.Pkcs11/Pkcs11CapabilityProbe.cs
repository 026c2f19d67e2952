using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Finds out what the token really does, by trying it.
/// </summary>
/// <remarks>
/// Mechanism lists overstate: SoftHSM2 2.6.1 lists CKM_RSA_PKCS_OAEP but accepts only SHA-1 parameters. So RSA-PSS
/// and OAEP-SHA-256 are tried on a throw-away session key pair (CKA_TOKEN=false, destroyed afterwards) and the
/// results checked with .NET. Key types come from the mechanism list and its key-size ranges.
/// </remarks>
internal static class Pkcs11CapabilityProbe
{
    private const int ProbeRsaBits = 2048;

    public static KeyStoreCapabilities Probe(ISlot slot, ISession session, LowLevelPkcs11Library? lowLevelLibrary)
    {
        var mechanisms = slot.GetMechanismList().ToHashSet();
        var algorithms = new List<KeyAlgorithm>();
        bool rsa = mechanisms.Contains(CKM.CKM_RSA_PKCS_KEY_PAIR_GEN);
        if (rsa)
        {
            IMechanismInfo info = slot.GetMechanismInfo(CKM.CKM_RSA_PKCS_KEY_PAIR_GEN);
            algorithms.AddRange(new[] { KeyAlgorithm.Rsa2048, KeyAlgorithm.Rsa3072, KeyAlgorithm.Rsa4096 }
                .Where(a => Fits(info, (ulong)a.RsaBits())));
        }

        if (mechanisms.Contains(CKM.CKM_EC_KEY_PAIR_GEN) && mechanisms.Contains(CKM.CKM_ECDSA))
        {
            IMechanismInfo info = slot.GetMechanismInfo(CKM.CKM_EC_KEY_PAIR_GEN);
            algorithms.AddRange(new[] { (KeyAlgorithm.EcP256, 256UL), (KeyAlgorithm.EcP384, 384UL) }
                .Where(c => Fits(info, c.Item2)).Select(c => c.Item1));
        }

        bool tryPss = rsa && mechanisms.Contains(CKM.CKM_RSA_PKCS_PSS);
        bool tryOaep = rsa && mechanisms.Contains(CKM.CKM_RSA_PKCS_OAEP);
        if (!tryPss && !tryOaep)
        {
            return new KeyStoreCapabilities(OaepSha256: false, RsaPss: false, algorithms);
        }

        (IObjectHandle publicKey, IObjectHandle privateKey) = GenerateSessionKeyPair(session);
        try
        {
            using RSA verifier = ReadPublicKey(session, publicKey);
            bool pss = tryPss && Attempt(() => PssWorks(session, privateKey, verifier));
            bool oaepSha256 = tryOaep && Attempt(() => OaepSha256Works(session, privateKey, verifier, lowLevelLibrary));
            return new KeyStoreCapabilities(oaepSha256, pss, algorithms);
        }
        finally
        {
            session.DestroyObject(privateKey);
            session.DestroyObject(publicKey);
        }
    }

    /// <summary>
    /// Whether <see cref="Pkcs11Rewrap"/> works on this token (OAEP SHA-1 both ways, which every OAEP token has):
    /// a known secret is wrapped in .NET, re-wrapped by the token to a session key, and both its MAC and its
    /// re-wrapped value are checked.
    /// </summary>
    public static bool ProbeRewrap(ISession session)
    {
        (IObjectHandle publicKey, IObjectHandle privateKey) = GenerateSessionKeyPair(session);
        try
        {
            using RSA encryptor = ReadPublicKey(session, publicKey);
            return Attempt(() =>
            {
                byte[] secret = RandomNumberGenerator.GetBytes(32);
                byte[] data = "OpenHGS re-wrap probe"u8.ToArray();
                var request = new RewrapRequest("probe", encryptor.Encrypt(secret, RSAEncryptionPadding.OaepSHA1), OaepHash.Sha1, data, encryptor.ExportSubjectPublicKeyInfo(), OaepHash.Sha1);
                var result = Pkcs11Rewrap.Run(session, privateKey, request);
                using IMechanism oaep = Pkcs11Mechanisms.ForOaep(session, OaepHash.Sha1);
                byte[] unwrapped = session.Decrypt(oaep, privateKey, result.Rewrapped);
                return CryptographicOperations.FixedTimeEquals(unwrapped, secret)
                    && CryptographicOperations.FixedTimeEquals(result.Mac, HMACSHA256.HashData(secret, data));
            });
        }
        finally
        {
            session.DestroyObject(privateKey);
            session.DestroyObject(publicKey);
        }
    }

    private static bool Fits(IMechanismInfo info, ulong bits) =>
        // Some tokens report 0/0 for "no stated limit".
        (info.MinKeySize == 0 && info.MaxKeySize == 0) || (info.MinKeySize <= bits && bits <= info.MaxKeySize);

    private static (IObjectHandle Public, IObjectHandle Private) GenerateSessionKeyPair(ISession session)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        using var publicTemplate = new Pkcs11Template(
        [
            attributes.Create(CKA.CKA_TOKEN, false),
            attributes.Create(CKA.CKA_MODULUS_BITS, (ulong)ProbeRsaBits),
            attributes.Create(CKA.CKA_PUBLIC_EXPONENT, new byte[] { 0x01, 0x00, 0x01 }),
            attributes.Create(CKA.CKA_VERIFY, true),
            attributes.Create(CKA.CKA_ENCRYPT, true),
        ]);
        using var privateTemplate = new Pkcs11Template(
        [
            attributes.Create(CKA.CKA_TOKEN, false),
            attributes.Create(CKA.CKA_PRIVATE, true),
            attributes.Create(CKA.CKA_SENSITIVE, true),
            attributes.Create(CKA.CKA_EXTRACTABLE, false),
            attributes.Create(CKA.CKA_SIGN, true),
            attributes.Create(CKA.CKA_DECRYPT, true),
            attributes.Create(CKA.CKA_UNWRAP, true),
        ]);
        using IMechanism mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_KEY_PAIR_GEN);
        session.GenerateKeyPair(mechanism, publicTemplate.Attributes, privateTemplate.Attributes, out IObjectHandle publicKey, out IObjectHandle privateKey);
        return (publicKey, privateKey);
    }

    private static RSA ReadPublicKey(ISession session, IObjectHandle publicKey)
    {
        List<IObjectAttribute> values = session.GetAttributeValue(publicKey, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
        RSA rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(Pkcs11KeyObjects.RsaSubjectPublicKeyInfo(values[0].GetValueAsByteArray(), values[1].GetValueAsByteArray()), out _);
        return rsa;
    }

    private static bool PssWorks(ISession session, IObjectHandle privateKey, RSA verifier)
    {
        byte[] hash = SHA256.HashData("OpenHGS capability probe"u8);
        using IMechanism mechanism = Pkcs11Mechanisms.ForSignature(session, SignatureScheme.RsaPssSha256, hash, out byte[] input);
        byte[] signature = session.Sign(mechanism, privateKey, input);
        return verifier.VerifyHash(hash, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
    }

    private static bool OaepSha256Works(ISession session, IObjectHandle privateKey, RSA encryptor, LowLevelPkcs11Library? lowLevelLibrary)
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        byte[] ciphertext = encryptor.Encrypt(secret, RSAEncryptionPadding.OaepSHA256);
        using IMechanism mechanism = Pkcs11Mechanisms.ForOaep(session, OaepHash.Sha256);
        byte[] plaintext = Pkcs11Decryption.Decrypt(lowLevelLibrary, session, mechanism, privateKey, ciphertext);
        return CryptographicOperations.FixedTimeEquals(plaintext, secret);
    }

    /// <summary>
    /// Any refusal means "not supported" (SoftHSM answers some unsupported parameters with CKR_GENERAL_ERROR);
    /// only a lost session or device is not an answer, and propagates so the pool can recover.
    /// </summary>
    private static bool Attempt(Func<bool> probe)
    {
        try
        {
            return probe();
        }
        catch (Pkcs11Exception ex) when (!Pkcs11Failures.IsRecoverable(ex.RV))
        {
            return false;
        }
    }
}
