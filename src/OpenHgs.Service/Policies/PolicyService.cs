using System.Globalization;
using System.Text.Json;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Policies;

/// <summary>The policies and baselines in force, read in one transaction with the policy version they belong to.</summary>
/// <param name="Revocation">
/// The imported TPM CRLs, parsed and indexed by CA once per version (design change 75): an import or removal of a CRL
/// changes what attestation decides, so it bumps the policy version like a baseline change, and every node's next
/// attestation finds the new index under the new version. Empty where no CRL applies (offline evaluation).
/// </param>
public sealed record PolicySnapshot(int Version, IReadOnlyDictionary<string, PolicyState> States, IReadOnlyList<Baseline> Baselines, EkRevocationIndex? Revocation = null)
{
    /// <summary>The CRL index (<see cref="EkRevocationIndex.Empty"/> when none was loaded).</summary>
    public EkRevocationIndex EkRevocation => Revocation ?? EkRevocationIndex.Empty;

    /// <summary>Evaluates every policy that is not disabled, in catalog order.</summary>
    public IReadOnlyList<PolicyOutcome> Evaluate(PolicyEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        return PolicyCatalog.All
            .Where(p => States[p.Name] != PolicyState.Disabled)
            .Select(p => new PolicyOutcome(p.Name, States[p.Name], p.Evaluate(evidence)))
            .ToList();
    }
}

/// <summary>
/// Admin operations on attestation policies and TPM baselines (HGS Enable-/Disable-HgsAttestationPolicy,
/// Add-HgsAttestationTpmPolicy). Every change bumps the policy version in the same transaction as the change and
/// its audit record, so a health certificate's policy version identifies exactly the rules it was issued under.
/// </summary>
public sealed class PolicyService(IHgsDatabase database, SettingsService settings, TimeProvider time)
{
    public async Task<IReadOnlyList<PolicyInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var states = await database.ReadAsync(s => s.Policies.GetStatesAsync(), cancellationToken).ConfigureAwait(false);
        return PolicyCatalog.All.Select(p => new PolicyInfo(p.Name, Name(StateOf(p, states)), Name(p.DefaultState), p.Description)).ToList();
    }

    public async Task<PolicyChangeResult> SetStateAsync(string name, PolicyState state, CancellationToken cancellationToken)
    {
        var policy = PolicyCatalog.Find(name)
            ?? throw ServiceException.NotFound("UnknownPolicy", $"There is no policy '{name}'; 'hgs policy list' shows them.");
        int version = await database.InTransactionAsync(async s =>
        {
            await s.Policies.SetStateAsync(policy.Name, Name(state)).ConfigureAwait(false);
            int next = await BumpVersionAsync(s).ConfigureAwait(false);
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, PolicyTable.PolicySubjectPrefix + policy.Name, null,
                ("state", Name(state)), ("policyVersion", next.ToString(CultureInfo.InvariantCulture)))).ConfigureAwait(false);
            return next;
        }, cancellationToken).ConfigureAwait(false);
        settings.Invalidate();
        return new PolicyChangeResult(policy.Name, Name(state), version);
    }

    public async Task<BaselineInfo> AddBaselineAsync(AddBaselineRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 128)
        {
            throw ServiceException.BadRequest("BaselineNameInvalid", "A baseline needs a name of 1-128 characters.");
        }

        var baseline = Baseline.FromDocument(request.Name, request.Baseline);
        byte[] document = JsonSerializer.SerializeToUtf8Bytes(request.Baseline, WireJson.Default.BaselineDocument);
        var now = time.GetUtcNow();
        int version = await database.InTransactionAsync(async s =>
        {
            // In the same transaction as the insert: a baseline the bank policy refuses is never registered, whatever
            // change to the policy commits concurrently.
            if (baseline.Bank != TpmAlgorithm.Sha256 && StateOf(PcrBankSha256, await s.Policies.GetStatesAsync().ConfigureAwait(false)) == PolicyState.Enabled)
            {
                throw ServiceException.BadRequest("BaselineSha1NotAllowed",
                    $"The baseline's event log extends only {baseline.Bank.Name()}, and {PcrBankSha256Policy.PolicyName} is enabled; "
                    + $"'hgs policy disable {PcrBankSha256Policy.PolicyName}' allows SHA-1-only firmware.");
            }

            if (!await s.Policies.AddBaselineAsync(new BaselineRecord(request.Name, document, now)).ConfigureAwait(false))
            {
                throw ServiceException.Conflict("BaselineExists", $"A baseline named '{request.Name}' is already registered.");
            }

            int next = await BumpVersionAsync(s).ConfigureAwait(false);
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, PolicyTable.BaselineSubjectPrefix + request.Name, null,
                ("hardwareClass", baseline.HardwareClass), ("documentSha256", PolicyTable.DocumentDigest(document)), ("bank", baseline.Bank.Name()), ("policyVersion", next.ToString(CultureInfo.InvariantCulture)))).ConfigureAwait(false);
            return next;
        }, cancellationToken).ConfigureAwait(false);
        settings.Invalidate();
        return new BaselineInfo(request.Name, baseline.HardwareClass, now, version);
    }

    /// <summary>The registered baselines, by name, with the hardware class each stands for and the current policy version.</summary>
    public async Task<IReadOnlyList<BaselineInfo>> ListBaselinesAsync(CancellationToken cancellationToken)
    {
        var (version, records) = await database.ReadAsync(
            async s => (await ReadVersionAsync(s).ConfigureAwait(false), await s.Policies.ListBaselinesAsync().ConfigureAwait(false)),
            cancellationToken).ConfigureAwait(false);
        return records
            .Select(b => new BaselineInfo(b.Name, Baseline.FromDocument(b.Name, JsonSerializer.Deserialize(b.Document, WireJson.Default.BaselineDocument)!).HardwareClass, b.AddedAt, version))
            .ToList();
    }

    /// <summary>
    /// Removes a baseline: hosts of its hardware class stop matching it from the next attestation on (their health
    /// certificates already issued stay valid until they expire; <c>hgs server deny-before</c> ends them sooner).
    /// </summary>
    public async Task<PolicyChangeResult> RemoveBaselineAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        int version = await database.InTransactionAsync(async s =>
        {
            if (!await s.Policies.RemoveBaselineAsync(name).ConfigureAwait(false))
            {
                throw ServiceException.NotFound("BaselineNotFound", $"There is no baseline named '{name}'; 'hgs policy baselines' lists them.");
            }

            int next = await BumpVersionAsync(s).ConfigureAwait(false);
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, PolicyTable.BaselineSubjectPrefix + name, null,
                ("removed", "true"), ("policyVersion", next.ToString(CultureInfo.InvariantCulture)))).ConfigureAwait(false);
            return next;
        }, cancellationToken).ConfigureAwait(false);
        settings.Invalidate();
        return new PolicyChangeResult(name, "removed", version);
    }

    /// <summary>
    /// The policy states and baseline documents of one policy version (read again if a change committed meanwhile), for
    /// evaluating evidence offline with the same policies and baselines the service uses.
    /// </summary>
    public async Task<PolicySet> ExportAsync(CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            var set = await database.ReadAsync(async s =>
            {
                int before = await ReadVersionAsync(s).ConfigureAwait(false);
                var states = await s.Policies.GetStatesAsync().ConfigureAwait(false);
                var baselines = await s.Policies.ListBaselinesAsync().ConfigureAwait(false);
                int after = await ReadVersionAsync(s).ConfigureAwait(false);
                return before != after ? null : new PolicySet(
                    after,
                    PolicyCatalog.All.Select(p => new PolicyInfo(p.Name, Name(StateOf(p, states)), Name(p.DefaultState), p.Description)).ToList(),
                    baselines.Select(b => new PolicySetBaseline(b.Name, b.AddedAt, JsonSerializer.Deserialize(b.Document, WireJson.Default.BaselineDocument)!)).ToList());
            }, cancellationToken).ConfigureAwait(false);
            if (set is not null)
            {
                return set;
            }

            if (attempt == 3)
            {
                throw ServiceException.Unavailable("PolicyChanging", "The policy set changed during every read of it; retry the request.");
            }
        }
    }

    /// <summary>
    /// Reads the states and baselines, then the policy version, in <paramref name="session"/>. Without a transaction the
    /// result is one version's only if <see cref="ReadVersionAsync"/> before it gives the same version (as
    /// <see cref="PolicySnapshotCache"/> checks): every change bumps the version in the same transaction.
    /// </summary>
    public static async Task<PolicySnapshot> LoadAsync(HgsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        var states = await session.Policies.GetStatesAsync().ConfigureAwait(false);
        var baselines = (await session.Policies.ListBaselinesAsync().ConfigureAwait(false))
            .Select(b => Baseline.FromDocument(b.Name, JsonSerializer.Deserialize(b.Document, WireJson.Default.BaselineDocument)!))
            .ToList();
        var revocation = await TpmCrlService.RevocationIndexAsync(session).ConfigureAwait(false);
        return new PolicySnapshot(
            await ReadVersionAsync(session).ConfigureAwait(false),
            PolicyCatalog.All.ToDictionary(p => p.Name, p => StateOf(p, states), StringComparer.Ordinal),
            baselines,
            revocation);
    }

    public static PolicyState ParseState(string text) => text switch
    {
        "enabled" => PolicyState.Enabled,
        "disabled" => PolicyState.Disabled,
        "staged" => PolicyState.Staged,
        _ => throw ServiceException.BadRequest("UnknownPolicyState", $"Unknown policy state '{text}': use enabled, disabled or staged."),
    };

    public static string Name(PolicyState state) => state switch
    {
        PolicyState.Enabled => "enabled",
        PolicyState.Disabled => "disabled",
        _ => "staged",
    };

    private static readonly IAttestationPolicy PcrBankSha256 = PolicyCatalog.Find(PcrBankSha256Policy.PolicyName)!;

    /// <summary>A policy's state from its row, which always exists (<see cref="ExplicitPolicyStates"/>): a missing one fails closed.</summary>
    private static PolicyState StateOf(IAttestationPolicy policy, Dictionary<string, string> states) =>
        states.TryGetValue(policy.Name, out var text) ? ParseState(text) : throw RowIntegrityException.Missing("policies", policy.Name);

    /// <summary>The policy version in the database (1 before the first change).</summary>
    internal static async Task<int> ReadVersionAsync(HgsSession s)
    {
        ArgumentNullException.ThrowIfNull(s);
        string? text = await SettingHistory.PolicyVersionAsync(s, checkHistory: false).ConfigureAwait(false);
        return text is null ? 1 : int.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The next policy version, written in <paramref name="s"/>'s transaction. Concurrent changes (several nodes on
    /// PostgreSQL, read committed) are serialised first on the audit head row, which always exists and which the change's
    /// own audit record locks anyway; the version row may not exist yet, so it cannot be the lock. The version is read
    /// after the lock, so it sees the previous change's commit: no two changes share a version. It also starts above the
    /// newest version the audit trail recorded, so a version row rolled back outside OpenHGS is never bumped into a
    /// version number some node already caches for another policy set (design change 64).
    /// </summary>
    internal static async Task<int> BumpVersionAsync(HgsSession s)
    {
        await s.Audit.ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        // The row as it is (even gone or rolled back: a change is how the admin repairs it), never below the trail.
        string? row = await s.Settings.GetAsync(SettingNames.PolicyVersion).ConfigureAwait(false);
        int next = Math.Max(row is null ? 1 : int.Parse(row, CultureInfo.InvariantCulture), await SettingHistory.NewestRecordedPolicyVersionAsync(s).ConfigureAwait(false)) + 1;
        await s.Settings.SetAsync(SettingNames.PolicyVersion, next.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return next;
    }
}
