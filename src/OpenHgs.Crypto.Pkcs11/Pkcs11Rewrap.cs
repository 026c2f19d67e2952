using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// The PKCS#11 steps of <see cref="ITransportKeyRewrapper.Rewrap"/>, all in one session: C_UnwrapKey into a
/// session secret (CKA_TOKEN false, CKA_SENSITIVE true, extractable only so C_WrapKey can wrap it), C_Sign
/// with CKM_SHA256_HMAC, C_CreateObject for the target public key (session object, CKA_WRAP), C_WrapKey with
/// RSA-OAEP, then both session objects are destroyed. Templates live in <see cref="Pkcs11Template"/>s until their
/// call returned (see there: freed too early, they made concurrent re-wraps fail).
/// </summary>
internal static class Pkcs11Rewrap
{
    public static RewrapResult Run(ISession session, IObjectHandle unwrappingKey, RewrapRequest request)
    {
        var attributes = session.Factories.ObjectAttributeFactory;
        IObjectHandle? secret = null;
        IObjectHandle? target = null;
        try
        {
            using (IMechanism unwrap = Pkcs11Mechanisms.ForOaep(session, request.UnwrapHash))
            using (var secretTemplate = new Pkcs11Template(
                [
                    attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                    attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
                    attributes.Create(CKA.CKA_TOKEN, false),
                    attributes.Create(CKA.CKA_PRIVATE, true),
                    attributes.Create(CKA.CKA_SENSITIVE, true),
                    attributes.Create(CKA.CKA_EXTRACTABLE, true),
                    attributes.Create(CKA.CKA_SIGN, true),
                ]))
            {
                secret = session.UnwrapKey(unwrap, unwrappingKey, request.WrappedSecret, secretTemplate.Attributes);
            }

            byte[] mac;
            using (IMechanism hmac = session.Factories.MechanismFactory.Create(CKM.CKM_SHA256_HMAC))
            {
                mac = session.Sign(hmac, secret, request.MacData);
            }

            var (modulus, exponent) = SubjectPublicKeyInfoReader.ReadRsa(request.TargetPublicKey);
            using (var targetTemplate = new Pkcs11Template(
            [
                attributes.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
                attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_RSA),
                attributes.Create(CKA.CKA_TOKEN, false),
                attributes.Create(CKA.CKA_WRAP, true),
                attributes.Create(CKA.CKA_ENCRYPT, true),
                attributes.Create(CKA.CKA_MODULUS, modulus),
                attributes.Create(CKA.CKA_PUBLIC_EXPONENT, exponent),
            ]))
            {
                target = session.CreateObject(targetTemplate.Attributes);
            }

            using IMechanism wrap = Pkcs11Mechanisms.ForOaep(session, request.TargetHash);
            byte[] rewrapped = session.WrapKey(wrap, target, secret);
            return new RewrapResult(mac, rewrapped);
        }
        finally
        {
            DestroyQuietly(session, secret);
            DestroyQuietly(session, target);
        }
    }

    private static void DestroyQuietly(ISession session, IObjectHandle? handle)
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
            // Session objects die with their session anyway; the pool drops sessions that fail.
        }
    }
}
