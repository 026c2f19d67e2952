using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>A key pair found on the token: what callers see, plus the object handles the store signs with.</summary>
internal sealed record Pkcs11KeyPair(StoredKey Key, IObjectHandle PrivateKey, IObjectHandle PublicKey);

/// <summary>
/// Generates, finds and describes OpenHGS key pairs as PKCS#11 objects.
/// </summary>
/// <remarks>
/// Private keys are generated CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE and (where the token
/// allows it) not CKA_MODIFIABLE, with exactly the capabilities their usage needs (never CKA_SIGN_RECOVER or CKA_DERIVE), so the token itself refuses
/// misuse and export. Both objects carry CKA_LABEL = label and CKA_ID = UTF-8(label); the public half stays on the
/// token so the SubjectPublicKeyInfo can always be rebuilt from CKA_MODULUS/CKA_PUBLIC_EXPONENT or
/// CKA_EC_PARAMS/CKA_EC_POINT.
/// </remarks>
internal static class Pkcs11KeyObjects
{
    private static readonly byte[] Rsa65537 = [0x01, 0x00, 0x01];
    private static readonly Oid P256 = new("1.2.840.10045.3.1.7");
    private static readonly Oid P384 = new("1.3.132.0.34");

    /// <summary>Handles of token objects of <paramref name="objectClass"/> labelled <paramref name="label"/>.</summary>
    public static List<IObjectHandle> Find(ISession session, CKO objectClass, string label)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        using var template = new Pkcs11Template(
        [
            attributes.Create(CKA.CKA_CLASS, objectClass),
            attributes.Create(CKA.CKA_TOKEN, true),
            attributes.Create(CKA.CKA_LABEL, label),
        ]);
        return session.FindAllObjects(template.Attributes);
    }

    /// <summary>The key pair labelled <paramref name="label"/>, or null when the token has no private key of that name.</summary>
    /// <exception cref="KeyStoreOperationException">The key exists but OpenHGS cannot use it (no public half, unsupported type).</exception>
    public static Pkcs11KeyPair? Load(ISession session, string label)
    {
        List<IObjectHandle> privateKeys = Find(session, CKO.CKO_PRIVATE_KEY, label);
        if (privateKeys.Count == 0)
        {
            return null;
        }

        List<IObjectHandle> publicKeys = Find(session, CKO.CKO_PUBLIC_KEY, label);
        if (publicKeys.Count == 0)
        {
            throw new KeyStoreOperationException($"Key '{label}' has no public key object on the token, so OpenHGS cannot use it.");
        }

        return Describe(session, label, privateKeys[0], publicKeys[0], out string? problem)
            ?? throw new KeyStoreOperationException($"Key '{label}' cannot be used by OpenHGS: {problem}.");
    }

    /// <summary>Every private key on the token with a public key of the same label and a type OpenHGS uses.</summary>
    public static List<Pkcs11KeyPair> LoadAll(ISession session)
    {
        var publicByLabel = new Dictionary<string, IObjectHandle>(StringComparer.Ordinal);
        foreach (IObjectHandle handle in FindAll(session, CKO.CKO_PUBLIC_KEY))
        {
            if (ReadLabel(session, handle) is { } label)
            {
                publicByLabel.TryAdd(label, handle);
            }
        }

        var result = new List<Pkcs11KeyPair>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (IObjectHandle handle in FindAll(session, CKO.CKO_PRIVATE_KEY))
        {
            if (ReadLabel(session, handle) is { } label && seen.Add(label)
                && publicByLabel.TryGetValue(label, out IObjectHandle? publicKey)
                && Describe(session, label, handle, publicKey, out _) is { } pair)
            {
                result.Add(pair);
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Key.Label, b.Key.Label));
        return result;
    }

    /// <summary>Generates the key pair on the token and returns its description.</summary>
    public static Pkcs11KeyPair Generate(ISession session, CreateKeyRequest request)
    {
        bool sign = request.Usage.HasFlag(KeyUsage.Sign);
        bool decrypt = request.Usage.HasFlag(KeyUsage.Decrypt);
        IObjectHandle publicKey;
        IObjectHandle privateKey;
        try
        {
            (publicKey, privateKey) = GenerateOnce(session, request, sign, decrypt, withModifiable: true);
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_ATTRIBUTE_TYPE_INVALID or CKR.CKR_ATTRIBUTE_VALUE_INVALID or CKR.CKR_TEMPLATE_INCONSISTENT)
        {
            // Some tokens refuse CKA_MODIFIABLE in a generation template; it is defence in depth, not essential.
            (publicKey, privateKey) = GenerateOnce(session, request, sign, decrypt, withModifiable: false);
        }

        return Describe(session, request.Label, privateKey, publicKey, out string? problem)
            ?? throw new KeyStoreOperationException($"The token generated key '{request.Label}' but it cannot be read back: {problem}.");
    }

    /// <summary>The DER SubjectPublicKeyInfo of an RSA public key given as unsigned big-endian integers.</summary>
    public static byte[] RsaSubjectPublicKeyInfo(byte[] modulus, byte[] exponent)
    {
        using RSA rsa = RSA.Create();
        rsa.ImportParameters(new RSAParameters { Modulus = SubjectPublicKeyInfoReader.TrimLeadingZeros(modulus).ToArray(), Exponent = SubjectPublicKeyInfoReader.TrimLeadingZeros(exponent).ToArray() });
        return rsa.ExportSubjectPublicKeyInfo();
    }

    /// <summary>
    /// The DER SubjectPublicKeyInfo of an EC public key from CKA_EC_PARAMS (a named-curve OID) and CKA_EC_POINT,
    /// which PKCS#11 v2.20+ tokens (SoftHSM among them) wrap in a DER OCTET STRING and older ones return raw.
    /// </summary>
    public static byte[] EcSubjectPublicKeyInfo(byte[] ecParams, byte[] ecPoint, out KeyAlgorithm algorithm)
    {
        string curveOid = AsnDecoder.ReadObjectIdentifier(ecParams, AsnEncodingRules.DER, out _);
        (algorithm, int fieldBytes, Oid curve) = curveOid switch
        {
            "1.2.840.10045.3.1.7" => (KeyAlgorithm.EcP256, 32, P256),
            "1.3.132.0.34" => (KeyAlgorithm.EcP384, 48, P384),
            _ => throw new CryptographicException($"EC curve {curveOid} is not one OpenHGS uses (P-256, P-384)."),
        };

        byte[] point = UnwrapEcPoint(ecPoint, fieldBytes);
        using ECDsa ecdsa = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.CreateFromOid(curve),
            Q = new ECPoint { X = point[1..(1 + fieldBytes)], Y = point[(1 + fieldBytes)..] },
        });
        return ecdsa.ExportSubjectPublicKeyInfo();
    }

    private static byte[] UnwrapEcPoint(byte[] ecPoint, int fieldBytes)
    {
        int uncompressedLength = 1 + (2 * fieldBytes);
        if (ecPoint.Length == uncompressedLength && ecPoint[0] == 0x04)
        {
            return ecPoint;
        }

        byte[] inner = AsnDecoder.ReadOctetString(ecPoint, AsnEncodingRules.DER, out int consumed);
        return consumed == ecPoint.Length && inner.Length == uncompressedLength && inner[0] == 0x04
            ? inner
            : throw new CryptographicException("CKA_EC_POINT is not an uncompressed point of the key's curve.");
    }

    private static (IObjectHandle Public, IObjectHandle Private) GenerateOnce(
        ISession session, CreateKeyRequest request, bool sign, bool decrypt, bool withModifiable)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        byte[] id = Encoding.UTF8.GetBytes(request.Label);
        bool rsa = request.Algorithm.IsRsa();

        using var publicKeyTemplate = new Pkcs11Template(
        [
            attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            attributes.Create(CKA.CKA_TOKEN, true),
            attributes.Create(CKA.CKA_PRIVATE, false),
            attributes.Create(CKA.CKA_LABEL, request.Label),
            attributes.Create(CKA.CKA_ID, id),
            attributes.Create(CKA.CKA_VERIFY, sign),
            attributes.Create(CKA.CKA_ENCRYPT, decrypt),
            attributes.Create(CKA.CKA_WRAP, decrypt),
            attributes.Create(CKA.CKA_VERIFY_RECOVER, false),
        ]);
        using var privateKeyTemplate = new Pkcs11Template(
        [
            attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
            attributes.Create(CKA.CKA_TOKEN, true),
            attributes.Create(CKA.CKA_PRIVATE, true),
            attributes.Create(CKA.CKA_SENSITIVE, true),
            attributes.Create(CKA.CKA_EXTRACTABLE, false),
            attributes.Create(CKA.CKA_LABEL, request.Label),
            attributes.Create(CKA.CKA_ID, id),
            attributes.Create(CKA.CKA_SIGN, sign),
            attributes.Create(CKA.CKA_DECRYPT, decrypt),
            attributes.Create(CKA.CKA_UNWRAP, decrypt),
            attributes.Create(CKA.CKA_DERIVE, false),

            // SoftHSM (and other tokens) default CKA_SIGN_RECOVER to true: with CKM_RSA_X_509 that is a raw private-key
            // operation, so a decryption key could decrypt through it and a signing key would be a decryption oracle.
            attributes.Create(CKA.CKA_SIGN_RECOVER, false),
        ]);
        List<IObjectAttribute> publicTemplate = publicKeyTemplate.Attributes;
        List<IObjectAttribute> privateTemplate = privateKeyTemplate.Attributes;
        if (withModifiable)
        {
            publicTemplate.Add(attributes.Create(CKA.CKA_MODIFIABLE, false));
            privateTemplate.Add(attributes.Create(CKA.CKA_MODIFIABLE, false));
        }

        if (rsa)
        {
            publicTemplate.Add(attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_RSA));
            publicTemplate.Add(attributes.Create(CKA.CKA_MODULUS_BITS, (ulong)request.Algorithm.RsaBits()));
            publicTemplate.Add(attributes.Create(CKA.CKA_PUBLIC_EXPONENT, Rsa65537));
            privateTemplate.Add(attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_RSA));
        }
        else
        {
            Oid curve = request.Algorithm == KeyAlgorithm.EcP384 ? P384 : P256;
            publicTemplate.Add(attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC));
            publicTemplate.Add(attributes.Create(CKA.CKA_EC_PARAMS, EncodeOid(curve.Value!)));
            privateTemplate.Add(attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC));
        }

        using IMechanism mechanism = session.Factories.MechanismFactory.Create(rsa ? CKM.CKM_RSA_PKCS_KEY_PAIR_GEN : CKM.CKM_EC_KEY_PAIR_GEN);
        session.GenerateKeyPair(mechanism, publicTemplate, privateTemplate, out IObjectHandle publicKey, out IObjectHandle privateKey);
        return (publicKey, privateKey);
    }

    /// <summary>Describes a pair from its attributes, or returns null with the reason when OpenHGS cannot use it.</summary>
    private static Pkcs11KeyPair? Describe(ISession session, string label, IObjectHandle privateKey, IObjectHandle publicKey, out string? problem)
    {
        List<IObjectAttribute> privateAttributes = session.GetAttributeValue(privateKey, [CKA.CKA_KEY_TYPE, CKA.CKA_SIGN, CKA.CKA_DECRYPT]);
        var keyType = (CKK)privateAttributes[0].GetValueAsUlong();
        KeyUsage usage = (privateAttributes[1].GetValueAsBool() ? KeyUsage.Sign : KeyUsage.None)
                         | (!privateAttributes[2].CannotBeRead && privateAttributes[2].GetValueAsBool() ? KeyUsage.Decrypt : KeyUsage.None);
        try
        {
            (KeyAlgorithm algorithm, byte[] spki) = keyType switch
            {
                CKK.CKK_RSA => DescribeRsa(session, publicKey),
                CKK.CKK_EC => DescribeEc(session, publicKey),
                _ => throw new CryptographicException($"key type {keyType} is not RSA or EC"),
            };
            problem = null;
            return new Pkcs11KeyPair(new StoredKey(label, algorithm, usage, spki), privateKey, publicKey);
        }
        catch (Exception ex) when (ex is CryptographicException or AsnContentException)
        {
            problem = ex.Message;
            return null;
        }
    }

    private static (KeyAlgorithm, byte[]) DescribeRsa(ISession session, IObjectHandle publicKey)
    {
        List<IObjectAttribute> values = session.GetAttributeValue(publicKey, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
        byte[] modulus = SubjectPublicKeyInfoReader.TrimLeadingZeros(values[0].GetValueAsByteArray()).ToArray();
        KeyAlgorithm algorithm = (modulus.Length * 8) switch
        {
            2048 => KeyAlgorithm.Rsa2048,
            3072 => KeyAlgorithm.Rsa3072,
            4096 => KeyAlgorithm.Rsa4096,
            int bits => throw new CryptographicException($"RSA-{bits} is not a key size OpenHGS uses (2048, 3072, 4096)"),
        };
        return (algorithm, RsaSubjectPublicKeyInfo(modulus, values[1].GetValueAsByteArray()));
    }

    private static (KeyAlgorithm, byte[]) DescribeEc(ISession session, IObjectHandle publicKey)
    {
        List<IObjectAttribute> values = session.GetAttributeValue(publicKey, [CKA.CKA_EC_PARAMS, CKA.CKA_EC_POINT]);
        byte[] spki = EcSubjectPublicKeyInfo(values[0].GetValueAsByteArray(), values[1].GetValueAsByteArray(), out KeyAlgorithm algorithm);
        return (algorithm, spki);
    }

    private static List<IObjectHandle> FindAll(ISession session, CKO objectClass)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        using var template = new Pkcs11Template([attributes.Create(CKA.CKA_CLASS, objectClass), attributes.Create(CKA.CKA_TOKEN, true)]);
        return session.FindAllObjects(template.Attributes);
    }

    private static string? ReadLabel(ISession session, IObjectHandle handle)
    {
        IObjectAttribute label = session.GetAttributeValue(handle, [CKA.CKA_LABEL])[0];
        return label.CannotBeRead ? null : label.GetValueAsString() is { Length: > 0 } text ? text : null;
    }

    private static byte[] EncodeOid(string oid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(oid);
        return writer.Encode();
    }
}
