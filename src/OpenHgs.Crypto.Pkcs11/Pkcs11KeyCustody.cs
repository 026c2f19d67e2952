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
        // Attribute by attribute: a token that does not know one (CKR_ATTRIBUTE_TYPE_INVALID) or withholds it answers
        // for the others, and that one is reported as not known rather than guessed.
        bool? Flag(CKA attribute)
        {
            try
            {
                IObjectAttribute value = session.GetAttributeValue(key, [attribute])[0];
                return value.CannotBeRead ? null : value.GetValueAsBool();
            }
            catch (Pkcs11Exception ex) when (ex.RV is CKR.CKR_ATTRIBUTE_TYPE_INVALID or CKR.CKR_ATTRIBUTE_SENSITIVE)
            {
                return null;
            }
        }

        bool?[] flags = [.. Read.Select(Flag)];
        var operations = OperationAttributes
            .Where(o => Flag(o.Attribute) == true)
            .Aggregate(KeyOperations.None, (all, o) => all | o.Operation);
        return new TokenKeyAttributes(flags[0], flags[1], flags[2], flags[3], flags[4], flags[5], flags[6], flags[7], operations);
    }
}
