using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// The PKCS#11 side of <see cref="IRecordAuthenticator"/>: MAC keys are 32-byte CKK_GENERIC_SECRET token objects
/// generated with CKM_GENERIC_SECRET_KEY_GEN (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, sign/verify
/// only, not modifiable where the token allows it); MACs are CKM_SHA256_HMAC through C_Sign.
/// </summary>
internal static class Pkcs11MacKeys
{
    private const ulong KeyBytes = 32;

    /// <summary>Handles of secret-key token objects labelled <paramref name="label"/>.</summary>
    public static List<IObjectHandle> Find(ISession session, string label)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        return session.FindAllObjects(
        [
            attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            attributes.Create(CKA.CKA_TOKEN, true),
            attributes.Create(CKA.CKA_LABEL, label),
        ]);
    }

    public static IObjectHandle Generate(ISession session, string label)
    {
        try
        {
            return GenerateOnce(session, label, token: true, withModifiable: true);
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_ATTRIBUTE_TYPE_INVALID or CKR.CKR_ATTRIBUTE_VALUE_INVALID or CKR.CKR_TEMPLATE_INCONSISTENT)
        {
            // As for key pairs: CKA_MODIFIABLE is defence in depth, and some tokens refuse it in a template.
            return GenerateOnce(session, label, token: true, withModifiable: false);
        }
    }

    public static byte[] Compute(ISession session, IObjectHandle key, byte[] data)
    {
        using IMechanism hmac = session.Factories.MechanismFactory.Create(CKM.CKM_SHA256_HMAC);
        return session.Sign(hmac, key, data);
    }

    /// <summary>
    /// Whether the token generates generic secrets and computes HMAC-SHA256 with them correctly: a session secret is
    /// generated and used once, and a known session secret's MAC is checked against .NET's HMAC-SHA256.
    /// </summary>
    public static bool Probe(ISession session)
    {
        IObjectHandle? generated = null;
        IObjectHandle? known = null;
        try
        {
            generated = GenerateOnce(session, "openhgs-mac-probe", token: false, withModifiable: false);
            byte[] data = "OpenHGS MAC probe"u8.ToArray();
            if (Compute(session, generated, data).Length != 32)
            {
                return false;
            }

            byte[] secret = RandomNumberGenerator.GetBytes(32);
            var attributes = session.Factories.ObjectAttributeFactory;
            known = session.CreateObject(
            [
                attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
                attributes.Create(CKA.CKA_TOKEN, false),
                attributes.Create(CKA.CKA_SIGN, true),
                attributes.Create(CKA.CKA_VALUE, secret),
            ]);
            return CryptographicOperations.FixedTimeEquals(Compute(session, known, data), HMACSHA256.HashData(secret, data));
        }
        catch (Pkcs11Exception ex) when (!Pkcs11Failures.IsRecoverable(ex.RV))
        {
            return false;
        }
        finally
        {
            Destroy(session, generated);
            Destroy(session, known);
        }
    }

    private static IObjectHandle GenerateOnce(ISession session, string label, bool token, bool withModifiable)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        List<IObjectAttribute> template =
        [
            attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
            attributes.Create(CKA.CKA_VALUE_LEN, KeyBytes),
            attributes.Create(CKA.CKA_TOKEN, token),
            attributes.Create(CKA.CKA_PRIVATE, true),
            attributes.Create(CKA.CKA_SENSITIVE, true),
            attributes.Create(CKA.CKA_EXTRACTABLE, false),
            attributes.Create(CKA.CKA_SIGN, true),
            attributes.Create(CKA.CKA_VERIFY, true),
            attributes.Create(CKA.CKA_ENCRYPT, false),
            attributes.Create(CKA.CKA_DECRYPT, false),
            attributes.Create(CKA.CKA_WRAP, false),
            attributes.Create(CKA.CKA_UNWRAP, false),
            attributes.Create(CKA.CKA_DERIVE, false),
            attributes.Create(CKA.CKA_LABEL, label),
            attributes.Create(CKA.CKA_ID, Encoding.UTF8.GetBytes(label)),
        ];
        if (withModifiable)
        {
            template.Add(attributes.Create(CKA.CKA_MODIFIABLE, false));
        }

        using IMechanism mechanism = session.Factories.MechanismFactory.Create(CKM.CKM_GENERIC_SECRET_KEY_GEN);
        return session.GenerateKey(mechanism, template);
    }

    private static void Destroy(ISession session, IObjectHandle? handle)
    {
        if (handle is null)
        {
            return;
        }

        try
        {
            session.DestroyObject(handle);
        }
        catch (Pkcs11Exception)
        {
            // Session objects die with their session anyway.
        }
    }
}
