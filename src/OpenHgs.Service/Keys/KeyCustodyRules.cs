using OpenHgs.Crypto;

namespace OpenHgs.Service.Keys;

/// <summary>What a key is for, which decides the operations it needs.</summary>
public enum KeyPurpose
{
    /// <summary>A signing key pair (attestation signer, KPS signing, audit checkpoints): needs Sign.</summary>
    Signing,

    /// <summary>The KPS encryption key pair: needs Decrypt and Unwrap (the HSM-native re-wrap).</summary>
    Decryption,

    /// <summary>A MAC key (the row MACs): needs Sign and Verify (CKM_SHA256_HMAC).</summary>
    Mac,
}

/// <summary>Why a key's custody is in doubt.</summary>
public enum KeyCustodyFindingCode
{
    /// <summary>CKA_EXTRACTABLE: the token would export the key, wrapped under another key.</summary>
    Extractable,

    /// <summary>CKA_SENSITIVE false: the token would return the key's value in clear.</summary>
    NotSensitive,

    /// <summary>CKA_NEVER_EXTRACTABLE false: the key was extractable once, and may have been exported then.</summary>
    ExtractableBefore,

    /// <summary>CKA_ALWAYS_SENSITIVE false: the key was readable in clear once.</summary>
    ReadableBefore,

    /// <summary>CKA_TOKEN false: a session object (OpenHGS only uses token objects; seen only from a faulty token).</summary>
    SessionObject,

    /// <summary>CKA_PRIVATE false: visible to a session that has not logged in.</summary>
    VisibleWithoutLogin,

    /// <summary>Several key objects under one label: which one a token returns first is not defined.</summary>
    DuplicateObjects,

    /// <summary>No copy of the key in a store (or cluster member) that should hold it.</summary>
    KeyMissing,

    /// <summary>The store or cluster member could not be asked, so nothing is known about its copy.</summary>
    HolderUnavailable,

    /// <summary>CKA_LOCAL false: imported or unwrapped into the token, so the token cannot vouch for its life before that.</summary>
    NotGeneratedOnToken,

    /// <summary>The key may do more than its purpose needs (say, a signing key that can decrypt).</summary>
    ExcessOperations,

    /// <summary>CKA_MODIFIABLE: its attributes can still be changed (the one-way ones only one way).</summary>
    Modifiable,

    /// <summary>The token does not report an attribute a failure rule reads: the key's custody cannot be shown (a failure).</summary>
    AttributeNotReported,

    /// <summary>The software key store: the key is a sealed file, opened in the service's memory (development only).</summary>
    SoftwareKeyStore,
}

/// <summary>How grave a finding is: a failure means the key cannot be shown never to have left its store.</summary>
public enum KeyCustodySeverity
{
    Warning,
    Failure,
}

/// <summary>One finding about one copy of a key, as data (named, with its severity), never a bare "bad key".</summary>
public sealed record KeyCustodyFinding(KeyCustodyFindingCode Code, KeyCustodySeverity Severity, string Holder, string Message)
{
    /// <summary>The key can have left its store (or which object is used is not defined): <c>--production</c> does not use it (design change 79).</summary>
    public bool Critical => KeyCustodyRules.IsCritical(Code);

    /// <summary>An admin accepted this critical finding for this key explicitly (<c>hgs server run --accept-key-custody</c>).</summary>
    public bool Accepted { get; init; }
}

/// <summary>
/// Judges what stores report about a key (<see cref="IKeyStore.DescribeCustody"/>) against what a key that never left its
/// HSM looks like. Pure: the same custody and purpose give the same findings.
/// </summary>
public static class KeyCustodyRules
{
    /// <summary>A rule over a token object's attributes: the finding when the attribute has its <c>Bad</c> value.</summary>
    private sealed record Rule(KeyCustodyFindingCode Code, KeyCustodySeverity Severity, Func<TokenKeyAttributes, bool?> Attribute, bool Bad, string Message);

    /// <summary>
    /// The attribute rules. A finding when the attribute has its bad value; an attribute the token does not report is an
    /// <see cref="KeyCustodyFindingCode.AttributeNotReported"/> failure for the failure rules (their evidence is missing).
    /// </summary>
    private static readonly Rule[] Rules =
    [
        new(KeyCustodyFindingCode.Extractable, KeyCustodySeverity.Failure, a => a.Extractable, true,
            "CKA_EXTRACTABLE is true: the token would export the key wrapped under another key"),
        new(KeyCustodyFindingCode.NotSensitive, KeyCustodySeverity.Failure, a => a.Sensitive, false,
            "CKA_SENSITIVE is false: the token would return the key's value in clear"),
        new(KeyCustodyFindingCode.ExtractableBefore, KeyCustodySeverity.Failure, a => a.NeverExtractable, false,
            "CKA_NEVER_EXTRACTABLE is false: the key was extractable at some time and may have been exported then"),
        new(KeyCustodyFindingCode.ReadableBefore, KeyCustodySeverity.Failure, a => a.AlwaysSensitive, false,
            "CKA_ALWAYS_SENSITIVE is false: the key's value was readable in clear at some time"),
        new(KeyCustodyFindingCode.SessionObject, KeyCustodySeverity.Failure, a => a.Token, false,
            "CKA_TOKEN is false: a session object, not a key the token keeps"),
        new(KeyCustodyFindingCode.VisibleWithoutLogin, KeyCustodySeverity.Failure, a => a.Private, false,
            "CKA_PRIVATE is false: sessions that have not logged in see the key"),
        new(KeyCustodyFindingCode.NotGeneratedOnToken, KeyCustodySeverity.Warning, a => a.Local, false,
            "CKA_LOCAL is false: the key was imported or unwrapped into the token (an HSM's own backup or cloning may do this), so the token cannot vouch for its life before that"),
        new(KeyCustodyFindingCode.Modifiable, KeyCustodySeverity.Warning, a => a.Modifiable, true,
            "CKA_MODIFIABLE is true: the key's attributes can still be changed (PKCS#11 lets the telling ones change only towards safety)"),
    ];

    /// <summary>
    /// The failures that say the key can have left its store, or that which object the token uses is not defined: in
    /// <c>--production</c> such a key is not used (design change 79). <see cref="KeyCustodyFindingCode.KeyMissing"/> and
    /// <see cref="KeyCustodyFindingCode.HolderUnavailable"/> are failures of the report but say nothing about a copy that
    /// is used (a missing key cannot be used; a member that is down is not asked), so they are not critical.
    /// </summary>
    public static bool IsCritical(KeyCustodyFindingCode code) => code is KeyCustodyFindingCode.Extractable or KeyCustodyFindingCode.NotSensitive
        or KeyCustodyFindingCode.ExtractableBefore or KeyCustodyFindingCode.ReadableBefore or KeyCustodyFindingCode.SessionObject
        or KeyCustodyFindingCode.VisibleWithoutLogin or KeyCustodyFindingCode.DuplicateObjects or KeyCustodyFindingCode.AttributeNotReported;

    /// <summary>The operations each purpose needs; any other the token allows is excess.</summary>
    public static KeyOperations Needs(KeyPurpose purpose) => purpose switch
    {
        KeyPurpose.Signing => KeyOperations.Sign,
        KeyPurpose.Decryption => KeyOperations.Decrypt | KeyOperations.Unwrap,
        KeyPurpose.Mac => KeyOperations.Sign | KeyOperations.Verify,
        _ => throw new ArgumentOutOfRangeException(nameof(purpose), purpose, "unknown key purpose"),
    };

    /// <summary>Every finding about <paramref name="custody"/> (all copies of one key), failures first.</summary>
    public static IReadOnlyList<KeyCustodyFinding> Judge(IReadOnlyList<KeyCustody> custody, KeyPurpose purpose)
    {
        ArgumentNullException.ThrowIfNull(custody);
        var findings = new List<KeyCustodyFinding>();
        if (custody.Count == 0)
        {
            findings.Add(new(KeyCustodyFindingCode.KeyMissing, KeyCustodySeverity.Failure, "(no store)", "no key store answered for the key"));
        }

        foreach (var holder in custody.GroupBy(c => c.Holder, StringComparer.Ordinal))
        {
            var copies = holder.ToList();
            if (copies.Count(c => c.Kind == KeyCustodyKind.Token) > 1)
            {
                findings.Add(new(KeyCustodyFindingCode.DuplicateObjects, KeyCustodySeverity.Failure, holder.Key,
                    $"{copies.Count} key objects are labelled '{copies[0].Label}': which one the token uses is not defined, and each is judged below"));
            }

            foreach (var copy in copies)
            {
                findings.AddRange(JudgeCopy(copy, purpose));
            }
        }

        return [.. findings.OrderByDescending(f => f.Severity)];
    }

    private static IEnumerable<KeyCustodyFinding> JudgeCopy(KeyCustody copy, KeyPurpose purpose)
    {
        switch (copy.Kind)
        {
            case KeyCustodyKind.Missing:
                yield return new(KeyCustodyFindingCode.KeyMissing, KeyCustodySeverity.Failure, copy.Holder, $"the store holds no key labelled '{copy.Label}'");
                yield break;
            case KeyCustodyKind.Unavailable:
                yield return new(KeyCustodyFindingCode.HolderUnavailable, KeyCustodySeverity.Failure, copy.Holder, $"the store could not be asked: {copy.Problem}");
                yield break;
            case KeyCustodyKind.Software:
                yield return new(KeyCustodyFindingCode.SoftwareKeyStore, KeyCustodySeverity.Warning, copy.Holder,
                    "the software key store keeps the key in a sealed file and uses it in the service's memory (development only; refused with --production)");
                yield break;
        }

        var attributes = copy.Attributes ?? throw new ArgumentException($"A token copy of '{copy.Label}' carries no attributes.", nameof(copy));
        foreach (var rule in Rules)
        {
            bool? value = rule.Attribute(attributes);
            if (value == rule.Bad)
            {
                yield return new(rule.Code, rule.Severity, copy.Holder, rule.Message);
            }
            else if (value is null && rule.Severity == KeyCustodySeverity.Failure)
            {
                // No evidence is not evidence of custody: a token that withholds the attribute cannot show the key never left it.
                yield return new(KeyCustodyFindingCode.AttributeNotReported, KeyCustodySeverity.Failure, copy.Holder,
                    $"the token does not report the attribute behind {rule.Code}, so the key cannot be shown never to have left it");
            }
        }

        var excess = attributes.Operations & ~Needs(purpose);
        if (excess != KeyOperations.None)
        {
            yield return new(KeyCustodyFindingCode.ExcessOperations, KeyCustodySeverity.Warning, copy.Holder,
                $"the key may also {excess} on the token, which a {purpose} key never needs");
        }
    }
}
