using System.Security.Cryptography;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Policies;

/// <summary>The built-in policies, modelled on HGS's and translated to what a Linux host's TCG event log shows.</summary>
public static class PolicyCatalog
{
    /// <summary>Every policy, in evaluation order. Immutable.</summary>
    public static IReadOnlyList<IAttestationPolicy> All { get; } =
    [
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

/// <summary>Hgs_EventLogIntegrity: every event whose digest is defined as the hash of its data really is (so decoded data can be trusted).</summary>
internal sealed class EventLogIntegrityPolicy : IAttestationPolicy
{
    private static readonly HashSet<TcgEventType> DataDigestTypes =
        [TcgEventType.Separator, TcgEventType.EfiVariableDriverConfig, TcgEventType.EfiAction];

    public string Name => "Hgs_EventLogIntegrity";

    public string Description => "Events whose digest is the hash of their data (separators, Secure Boot variables, EFI actions) verify in every bank.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
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

/// <summary>Hgs_UefiDebugDisabled: PCR 7 does not record "UEFI Debug Mode".</summary>
internal sealed class UefiDebugDisabledPolicy : IAttestationPolicy
{
    public string Name => "Hgs_UefiDebugDisabled";

    public string Description => "The firmware did not boot in UEFI debug mode.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence) =>
        evidence.SecureBoot.DebugModeMeasured ? PolicyResult.Fail("PCR 7 records UEFI Debug Mode.") : PolicyResult.Pass();
}

/// <summary>Hgs_SecureBootSettings: PK, KEK, db and dbx measurements equal those of a registered baseline.</summary>
internal sealed class SecureBootSettingsPolicy : IAttestationPolicy
{
    public string Name => "Hgs_SecureBootSettings";

    public string Description => "The Secure Boot keys and databases (PK, KEK, db, dbx digests in PCR 7) equal a registered baseline's.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var match = evidence.Baselines.FirstOrDefault(b => Same(b.SecureBoot, evidence.SecureBoot));
        return match is not null
            ? PolicyResult.Pass($"matches baseline '{match.Name}'.")
            : PolicyResult.Fail(evidence.Baselines.Count == 0 ? "no baseline is registered." : "PK/KEK/db/dbx differ from every registered baseline.");
    }

    private static bool Same(SecureBootState a, SecureBootState b) =>
        Same(a.Pk, b.Pk) && Same(a.Kek, b.Kek) && Same(a.Db, b.Db) && Same(a.Dbx, b.Dbx);

    private static bool Same(SecureBootVariable? a, SecureBootVariable? b) =>
        a is not null && b is not null
        && a.Digests.TryGetValue(TpmAlgorithm.Sha256, out var x) && b.Digests.TryGetValue(TpmAlgorithm.Sha256, out var y)
        && CryptographicOperations.FixedTimeEquals(x, y);
}

/// <summary>Hgs_BaselineMatch: the firmware PCRs 0–7 equal those of a registered baseline (same hardware class and configuration).</summary>
internal sealed class BaselineMatchPolicy : IAttestationPolicy
{
    private static readonly int[] FirmwarePcrs = [0, 1, 2, 3, 4, 5, 6, 7];

    public string Name => "Hgs_BaselineMatch";

    public string Description => "SHA-256 PCRs 0-7 (firmware, option ROMs, boot manager, GPT, Secure Boot) equal a registered baseline's.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var match = evidence.Baselines.FirstOrDefault(b => FirmwarePcrs.All(p => b.SamePcr(evidence.Pcrs, p)));
        return match is not null
            ? PolicyResult.Pass($"matches baseline '{match.Name}' ({match.HardwareClass}).")
            : PolicyResult.Fail(evidence.Baselines.Count == 0 ? "no baseline is registered." : "PCRs 0-7 match no registered baseline.");
    }
}

/// <summary>Hgs_BootComponents: every boot application measured into PCR 4 is one a registered baseline booted.</summary>
internal sealed class BootComponentsPolicy : IAttestationPolicy
{
    private const int BootManagerPcr = 4;

    public string Name => "Hgs_BootComponents";

    public string Description => "Every EFI boot application in PCR 4 (shim, boot loader, kernel) has a SHA-256 digest seen in a registered baseline.";

    public PolicyState DefaultState => PolicyState.Enabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var allowed = evidence.Baselines.SelectMany(b => Applications(b.Log)).Select(Convert.ToHexStringLower).ToHashSet(StringComparer.Ordinal);
        var unknown = Applications(evidence.Log).Select(Convert.ToHexStringLower).Where(d => !allowed.Contains(d)).ToList();
        return unknown.Count == 0
            ? PolicyResult.Pass()
            : PolicyResult.Fail($"{unknown.Count} boot application(s) in PCR 4 are in no registered baseline.");
    }

    private static IEnumerable<byte[]> Applications(EventLog log) =>
        log.Events.Where(e => e.Pcr == BootManagerPcr && e.Type == TcgEventType.EfiBootServicesApplication && e.Digests.ContainsKey(TpmAlgorithm.Sha256))
            .Select(e => e.Digests[TpmAlgorithm.Sha256]);
}

/// <summary>Hgs_KernelCommandLine: PCR 8 (kernel command line) and PCR 9 (kernel, initrd as read by the boot loader) equal a baseline's.</summary>
internal sealed class KernelCommandLinePolicy : IAttestationPolicy
{
    public string Name => "Hgs_KernelCommandLine";

    public string Description => "SHA-256 PCR 8 (kernel command line) and PCR 9 (kernel and initrd) equal a registered baseline's. Ships disabled: every kernel update changes them.";

    public PolicyState DefaultState => PolicyState.Disabled;

    public PolicyResult Evaluate(PolicyEvidence evidence)
    {
        var match = evidence.Baselines.FirstOrDefault(b => b.SamePcr(evidence.Pcrs, 8) && b.SamePcr(evidence.Pcrs, 9));
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
