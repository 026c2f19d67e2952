using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Reads what the token says about the objects under a label (<see cref="IKeyStore.DescribeCustody"/>): every private
/// key, and every secret key (a MAC key), each with the attributes that decide whether its value can leave the token.
/// </summary>
/// <remarks>
/// PKCS#11 makes the telling attributes one-way: CKA_SENSITIVE can only be set, CKA_EXTRACTABLE only cleared, and
/// CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE and CKA_LOCAL are set by the token alone. So a key whose token reports
/// sensitive, never extractable and local was generated there and has never been readable or exportable.
/// </remarks>
internal static class Pkcs11KeyCustody
{
    private static readonly List<CKA> Read =
    [
        CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_NEVER_EXTRACTABLE,
        CKA.CKA_LOCAL, CKA.CKA_MODIFIABLE,
    ];

    /// <summary>The operation each capability attribute grants.</summary>
    private static readonly (CKA Attribute, KeyOperations Operation)[] OperationAttributes =
    [
        (CKA.CKA_SIGN, KeyOperations.Sign), (CKA.CKA_VERIFY, KeyOperations.Verify), (CKA.CKA_DECRYPT, KeyOperations.Decrypt),
        (CKA.CKA_ENCRYPT, KeyOperations.Encrypt), (CKA.CKA_UNWRAP, KeyOperations.Unwrap), (CKA.CKA_WRAP, KeyOperations.Wrap),
        (CKA.CKA_DERIVE, KeyOperations.Derive), (CKA.CKA_SIGN_RECOVER, KeyOperations.SignRecover),
    ];

    /// <summary>One entry per private or secret key object labelled <paramref name="label"/>; <see cref="KeyCustodyKind.Missing"/> when none.</summary>
    public static List<KeyCustody> Describe(ISession session, string label, string holder)
    {
        var objects = Pkcs11KeyObjects.Find(session, CKO.CKO_PRIVATE_KEY, label).Concat(Pkcs11MacKeys.Find(session, label)).ToList();
        return objects.Count == 0
            ? [new KeyCustody(label, holder, KeyCustodyKind.Missing)]
            : [.. objects.Select(o => new KeyCustody(label, holder, KeyCustodyKind.Token, Attributes(session, o)))];
    }

    private static TokenKeyAttributes Attributes(ISession session, IObjectHandle key)
    {
        // One C_GetAttributeValue for all of them (the dashboard asks every 30 s, a network HSM answers each call over the
        // wire); an attribute the token does not know or withholds comes back unreadable and is reported as not known.
        List<CKA> asked = [.. Read, .. OperationAttributes.Select(o => o.Attribute)];
        bool?[] values = ReadFlags(session, key, asked);
        var operations = OperationAttributes
            .Where((o, i) => values[Read.Count + i] == true)
            .Aggregate(KeyOperations.None, (all, o) => all | o.Operation);
        return new TokenKeyAttributes(values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7], operations);
    }

    private static bool?[] ReadFlags(ISession session, IObjectHandle key, List<CKA> attributes)
    {
        try
        {
            return [.. session.GetAttributeValue(key, attributes).Select(Flag)];
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_ATTRIBUTE_TYPE_INVALID or CKR.CKR_ATTRIBUTE_SENSITIVE)
        {
            // A token that fails the whole template for one attribute: ask one by one, so the others are still answered.
            return [.. attributes.Select(attribute => ReadOne(session, key, attribute))];
        }
    }

    private static bool? ReadOne(ISession session, IObjectHandle key, CKA attribute)
    {
        try
        {
            return Flag(session.GetAttributeValue(key, [attribute])[0]);
        }
        catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_ATTRIBUTE_TYPE_INVALID or CKR.CKR_ATTRIBUTE_SENSITIVE)
        {
            return null;
        }
    }

    private static bool? Flag(IObjectAttribute value) => value.CannotBeRead ? null : value.GetValueAsBool();
}
