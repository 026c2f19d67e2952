using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Policies;

/// <summary>The built-in policies, modelled on HGS's and translated to what a Linux host's TCG event log shows.</summary>
public static class PolicyCatalog
{
    /// <summary>Every policy, in evaluation order. Immutable.</summary>
    public static IReadOnlyList<IAttestationPolicy> All { get; } =
    [
        new PcrBankSha256Policy(),
        new EventLogIntegrityPolicy(),
        new SecureBootEnabledPolicy(),
        new UefiDebugDisabledPolicy(),
        new SecureBootSettingsPolicy(),
        new BaselineMatchPolicy(),
        new BootComponentsPolicy(),
        new KernelCommandLinePolicy(),
        new DbxPresentPolicy(),
    ];

    /// <summary>The policy called <paramref name="name"/> (ordinal match), or null.</summary>
    public static IAttestationPolicy? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));
}

/// <summary>
/// Hgs_PcrBankSha256: policies read the SHA-256 bank. A host whose firmware extends only SHA-1 (legacy TCG 1.2 log, or a
/// crypto-agile log declaring SHA-1 alone) fails it; an admin who accepts SHA-1 — whose collisions are practical — for
/// such hosts disables (or stages) it. Every bank the log declares is still quoted and replayed; only the bank that
/// baselines and policies compare changes.
/// </summary>
internal sealed class PcrBankSha256Policy : IAttestationPolicy
{
    public const string PolicyName = "Hgs_PcrBankSha256";

    public string Name => PolicyName;

    public string Description =>
        "Baselines and policies compare SHA-256 PCRs. Disable to attest (and register baselines of) hosts whose firmware extends only SHA-1.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence) => evidence.Bank == TpmAlgorithm.Sha256
        ? PolicyResult.Pass()
        : PolicyResult.Fail($"the firmware extends only {string.Join(",", evidence.Log.Banks.Select(b => b.Name()))}: policies would compare {evidence.Bank.Name()} PCRs, which this fabric does not allow ('hgs policy disable {PolicyName}' allows SHA-1).");
}

/// <summary>
/// Hgs_EventLogIntegrity: every event whose digest is defined as the hash of its data really is (so decoded data can be
/// trusted), and every event extended into PCR 4 or 7 has a type the PC Client profile puts there. An event's type is
/// covered by no digest; refusing types a genuine log never carries there means a relabelled event is named, not trusted.
/// </summary>
internal sealed class EventLogIntegrityPolicy : IAttestationPolicy
{
    private static readonly HashSet<TcgEventType> DataDigestTypes =
        [TcgEventType.Separator, TcgEventType.EfiVariableDriverConfig, TcgEventType.EfiAction];

    // PCR 4: boot manager code (PE images, boot-option actions, the separator; EV_IPL for a legacy MBR boot).
    // PCR 7: Secure Boot policy (variables, authorities, SPDM device policy, actions such as "UEFI Debug Mode").
    private static readonly Dictionary<int, HashSet<TcgEventType>> ExpectedTypes = new()
    {
        [4] = [TcgEventType.EfiBootServicesApplication, TcgEventType.EfiAction, TcgEventType.Separator, TcgEventType.Ipl],
        [7] =
        [
            TcgEventType.EfiVariableDriverConfig, TcgEventType.EfiVariableAuthority, TcgEventType.Separator, TcgEventType.EfiAction,
            TcgEventType.EfiSpdmDevicePolicy, TcgEventType.EfiSpdmDeviceAuthority,
        ],
    };

    public string Name => "Hgs_EventLogIntegrity";

    public string Description =>
        "Events whose digest is the hash of their data (separators, Secure Boot variables, EFI actions) verify in every bank, "
        + "and PCRs 4 and 7 hold only the event types the PC Client profile puts there.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var unexpected = evidence.Log.Events
            .Where(e => e.IsExtended && ExpectedTypes.TryGetValue(e.Pcr, out var expected) && !expected.Contains(e.Type))
            .Select(e => string.Create(CultureInfo.InvariantCulture, $"event {e.Index} in PCR {e.Pcr} has type {e.Type.SpecName()}"))
            .ToList();
        if (unexpected.Count > 0)
        {
            return PolicyResult.Fail($"unexpected event type(s): {string.Join("; ", unexpected.Take(10))}.");
        }

        var bad = evidence.Log.Events
            .Where(e => DataDigestTypes.Contains(e.Type) && evidence.Log.Banks.Any(b => b.CanHash() && !e.DigestMatchesData(b)))
            .Select(e => e.Index).ToList();
        return bad.Count == 0
            ? PolicyResult.Pass()
            : PolicyResult.Fail($"event data does not match its digest at event(s) {string.Join(",", bad.Take(10))}.");
    }
}

/// <summary>Hgs_SecureBootEnabled: PCR 7 records SecureBoot = 1 and the record's data verifies.</summary>
internal sealed class SecureBootEnabledPolicy : IAttestationPolicy
{
    public string Name => "Hgs_SecureBootEnabled";

    public string Description => "UEFI Secure Boot is enabled (PCR 7 SecureBoot variable = 1).";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence) => evidence.SecureBoot switch
    {
        { SecureBoot: null } => PolicyResult.Fail("the log has no SecureBoot measurement in PCR 7."),
        { SecureBoot.DataVerified: false } => PolicyResult.Fail("the SecureBoot measurement's data does not match its digest."),
        { Enabled: true } => PolicyResult.Pass(),
        _ => PolicyResult.Fail("Secure Boot is disabled."),
    };
}

/// <summary>Hgs_UefiDebugDisabled: no PCR 7 event records "UEFI Debug Mode", whatever its event type.</summary>
internal sealed class UefiDebugDisabledPolicy : IAttestationPolicy
{
    public string Name => "Hgs_UefiDebugDisabled";

    public string Description => "The firmware did not boot in UEFI debug mode.";

    public PolicyState DefaultState => PolicyState.Enabled;

    // DebugModeEvent is found by digest or data, not by event type (a host can relabel the type).
    public PolicyResult Evaluate(PolicyEvidence evidence) => evidence.SecureBoot.DebugModeEvent is { } index
        ? PolicyResult.Fail(string.Create(CultureInfo.InvariantCulture, $"PCR 7 records UEFI Debug Mode (event {index})."))
        : PolicyResult.Pass();
}

/// <summary>Hgs_SecureBootSettings: PK, KEK, db and dbx measurements equal those of a registered baseline.</summary>
internal sealed class SecureBootSettingsPolicy : IAttestationPolicy
{
    public string Name => "Hgs_SecureBootSettings";

    public string Description => "The Secure Boot keys and databases (PK, KEK, db, dbx digests in PCR 7, in the bank policies read) equal a registered baseline's.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var match = evidence.Baselines.FirstOrDefault(b => Same(b.SecureBoot, evidence.SecureBoot, evidence.Bank));
        return match is not null
            ? PolicyResult.Pass($"matches baseline '{match.Name}'.")
            : PolicyResult.Fail(evidence.Baselines.Count == 0 ? "no baseline is registered." : "PK/KEK/db/dbx differ from every registered baseline.");
    }

    private static bool Same(SecureBootState a, SecureBootState b, TpmAlgorithm bank) =>
        Same(a.Pk, b.Pk, bank) && Same(a.Kek, b.Kek, bank) && Same(a.Db, b.Db, bank) && Same(a.Dbx, b.Dbx, bank);

    private static bool Same(SecureBootVariable? a, SecureBootVariable? b, TpmAlgorithm bank) =>
        a is not null && b is not null
        && a.Digests.TryGetValue(bank, out var x) && b.Digests.TryGetValue(bank, out var y)
        && CryptographicOperations.FixedTimeEquals(x, y);
}

/// <summary>Hgs_BaselineMatch: the firmware PCRs 0–7 equal those of a registered baseline (same hardware class and configuration).</summary>
internal sealed class BaselineMatchPolicy : IAttestationPolicy
{
    private static readonly int[] FirmwarePcrs = [0, 1, 2, 3, 4, 5, 6, 7];

    public string Name => "Hgs_BaselineMatch";

    public string Description => "PCRs 0-7 (firmware, option ROMs, boot manager, GPT, Secure Boot; SHA-256, or SHA-1 where allowed) equal a registered baseline's.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var match = evidence.Baselines.FirstOrDefault(b => FirmwarePcrs.All(p => b.SamePcr(evidence.Bank, evidence.Pcrs, p)));
        return match is not null
            ? PolicyResult.Pass($"matches baseline '{match.Name}' ({match.HardwareClass}).")
            : PolicyResult.Fail(evidence.Baselines.Count == 0 ? "no baseline is registered." : "PCRs 0-7 match no registered baseline.");
    }
}

/// <summary>
/// Hgs_BootComponents: every digest extended into PCR 4 is one a registered baseline extended there (or a benign constant).
/// Selected by PCR and digest, never by event type: the type is covered by no digest, so an unapproved boot loader
/// relabelled EV_EFI_BOOT_SERVICES_DRIVER or EV_COMPACT_HASH is still a PCR 4 measurement that must be approved.
/// </summary>
internal sealed class BootComponentsPolicy : IAttestationPolicy
{
    private const int BootManagerPcr = 4;

    // What every boot manager extends into PCR 4 besides images: the normal separator and the boot-option actions.
    // Harmless whatever type a log gives them: an image's digest cannot equal the hash of these constants.
    private static readonly byte[][] BenignMeasurements =
    [
        new byte[4],
        Encoding.ASCII.GetBytes("Calling EFI Application from Boot Option"),
        Encoding.ASCII.GetBytes("Returning from EFI Application from Boot Option"),
    ];


    public string Name => "Hgs_BootComponents";

    public string Description =>
        "Every digest (in the bank policies read) extended into PCR 4 (shim, boot loader, kernel, whatever their event type) was extended there by a registered baseline.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var bank = evidence.Bank;
        var approved = evidence.Baselines.SelectMany(b => Measured(b.Log)).Select(e => Digest(e, bank)).OfType<string>().ToHashSet(StringComparer.Ordinal);
        approved.UnionWith(BenignMeasurements.Select(m => Convert.ToHexStringLower(bank.Hash(m))));
        var unknown = Measured(evidence.Log).Where(e => Digest(e, bank) is not { } digest || !approved.Contains(digest)).ToList();
        return unknown.Count == 0
            ? PolicyResult.Pass()
            : PolicyResult.Fail($"{unknown.Count} measurement(s) in PCR 4 are in no registered baseline: "
                + string.Join("; ", unknown.Take(10).Select(e => string.Create(CultureInfo.InvariantCulture, $"event {e.Index} ({e.Type.SpecName()})"))) + ".");
    }

    private static IEnumerable<TcgEvent> Measured(EventLog log) => log.Events.Where(e => e.Pcr == BootManagerPcr && e.IsExtended);

    private static string? Digest(TcgEvent e, TpmAlgorithm bank) =>
        e.Digests.TryGetValue(bank, out var digest) ? Convert.ToHexStringLower(digest) : null;
}

/// <summary>
/// Hgs_KernelCommandLine: PCR 8 (kernel command line) and PCR 9 (kernel, initrd as read by the boot loader) are measured
/// and equal a baseline's. A PCR the host's log never extends is not quoted (<see cref="AttestedPcrs"/>) and is absent
/// from the evidence, and <see cref="Baseline.SamePcr"/> takes two absences as equal: a host and a baseline that both
/// measured nothing there would "match" with nothing compared, so an unmeasured PCR 8 or 9 fails the policy.
/// </summary>
internal sealed class KernelCommandLinePolicy : IAttestationPolicy
{
    private static readonly int[] KernelPcrs = [8, 9];

    public string Name => "Hgs_KernelCommandLine";

    public string Description => "PCR 8 (kernel command line) and PCR 9 (kernel and initrd) are measured and equal a registered baseline's. Ships disabled: every kernel update changes them.";

    public PolicyState DefaultState => PolicyState.Disabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var unmeasured = KernelPcrs.Where(p => !evidence.Pcrs.ContainsKey(p)).ToList();
        if (unmeasured.Count > 0)
        {
            return PolicyResult.Fail($"nothing was measured into PCR {string.Join(" or ", unmeasured)} (the event log has no such events): there is no kernel command line or kernel to compare with a baseline.");
        }

        var match = evidence.Baselines.FirstOrDefault(b => KernelPcrs.All(p => b.SamePcr(evidence.Bank, evidence.Pcrs, p)));
        return match is not null ? PolicyResult.Pass($"matches baseline '{match.Name}'.") : PolicyResult.Fail("PCR 8/9 match no registered baseline.");
    }
}

/// <summary>Hgs_DbxPresent: the forbidden-signature database (dbx) is measured and not empty.</summary>
internal sealed class DbxPresentPolicy : IAttestationPolicy
{
    public string Name => "Hgs_DbxPresent";

    public string Description => "The Secure Boot forbidden-signature database (dbx) is populated. Ships disabled: many cloud VM images boot with an empty dbx.";

    public PolicyState DefaultState => PolicyState.Disabled;

    public PolicyResult Evaluate(PolicyEvidence evidence) => evidence.SecureBoot.Dbx switch
    {
        null => PolicyResult.Fail("dbx is not measured."),
        { DataVerified: false } => PolicyResult.Fail("the dbx measurement's data does not match its digest."),
        { Value.Length: 0 } => PolicyResult.Fail("dbx is empty."),
        _ => PolicyResult.Pass(),
    };
}
