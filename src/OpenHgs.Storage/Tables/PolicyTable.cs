namespace OpenHgs.Storage;

/// <summary>A registered TPM baseline (a reference host's measurements, per hardware class).</summary>
public sealed record BaselineRecord(string Name, byte[] Document, DateTimeOffset AddedAt);

/// <summary>A policy's stored state.</summary>
public sealed record PolicyStateRecord(string Name, string State);

/// <summary>
/// Attestation policy states (every policy of the catalog has a row: its default state written once, or the admin's)
/// and registered baselines.
/// Every row carries a MAC and must be what the audit trail last said about it (<see cref="AdminRecordHistory"/>);
/// reading a set that holds a row that fails either throws <see cref="RowIntegrityException"/> (TPM attestation then
/// fails closed until the admin sets the state again or removes the baseline).
/// </summary>
public sealed class PolicyTable
{
    /// <summary>The audit subject of a policy state's records: this prefix and the policy's name (details: <c>state</c>).</summary>
    public const string PolicySubjectPrefix = "policy:";

    /// <summary>The audit subject of a baseline's records: this prefix and its name (details: <c>documentSha256</c>, or <c>removed</c>).</summary>
    public const string BaselineSubjectPrefix = "baseline:";

    internal const string PoliciesTable = "policies";
    internal const string BaselinesTable = "baselines";
    private readonly CommandFactory _db;
    private readonly RowMac _mac;
    private readonly AdminRecordHistory _history;

    internal PolicyTable(CommandFactory db, RowMac mac, AdminRecordHistory history)
    {
        _db = db;
        _mac = mac;
        _history = history;
    }

    /// <summary>How a baseline's audit record names its document (<c>documentSha256</c>): its SHA-256, in lower-case hex.</summary>
    public static string DocumentDigest(byte[] document) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(document));

    /// <summary>The state change recorded after this one, or null: the newest record naming a state decides (a row written by default has none).</summary>
    internal static long? StateSupersededBy(string state, IEnumerable<AdminRecord> newestFirst) =>
        AdminRecordHistory.SupersededBy(newestFirst, record => AdminRecordHistory.Names(record, "state", state));

    /// <summary>
    /// The removal or re-registration recorded after this baseline document was added, or null. An add recorded by a
    /// release from before this check names no document and is taken as this one (it cannot be told apart here).
    /// </summary>
    internal static long? BaselineSupersededBy(BaselineRecord baseline, IEnumerable<AdminRecord> newestFirst)
    {
        string digest = DocumentDigest(baseline.Document);
        return AdminRecordHistory.SupersededBy(newestFirst, record =>
            record.Detail("removed") == "true" ? RecordBearing.Replaced
            : record.Detail("documentSha256") is null ? RecordBearing.ThisRow
            : AdminRecordHistory.Names(record, "documentSha256", digest));
    }

    /// <exception cref="RowIntegrityException">A policy row was written or edited outside OpenHGS.</exception>
    public async Task<Dictionary<string, string>> GetStatesAsync() =>
        (await ListStatesAsync().ConfigureAwait(false)).AllOrThrow().ToDictionary(p => p.Name, p => p.State, StringComparer.Ordinal);

    /// <summary>Every policy state whose row verifies and is current, and the policies whose row is not.</summary>
    public async Task<RowSet<PolicyStateRecord>> ListStatesAsync()
    {
        var rows = await _db.QueryAsync("SELECT name, state, mac FROM policies ORDER BY name", r => (new PolicyStateRecord(r.GetString(0), r.GetString(1)), CommandFactory.Mac(r, 2))).ConfigureAwait(false);
        var history = await _history.AllAsync(PolicySubjectPrefix, AdminRecordEvents.SettingChanged).ConfigureAwait(false);
        return RowMac.Partition(rows, (p, mac) => _mac.Verifies(mac, PoliciesTable, p.Name, p.State), PoliciesTable, p => p.Name,
            p => StateSupersededBy(p.State, history[PolicySubjectPrefix + p.Name]));
    }

    public Task SetStateAsync(string name, string state) =>
        _db.ExecuteAsync("INSERT INTO policies (name, state, mac) VALUES (@n, @s, @m) ON CONFLICT (name) DO UPDATE SET state = excluded.state, mac = excluded.mac",
            ("@n", name), ("@s", state), ("@m", _mac.Seal(PoliciesTable, name, state)));

    /// <exception cref="RowIntegrityException">A baseline row was written or edited outside OpenHGS, or is an older copy put back.</exception>
    public async Task<List<BaselineRecord>> ListBaselinesAsync() => [.. (await ListBaselineRowsAsync().ConfigureAwait(false)).AllOrThrow()];

    /// <summary>Every baseline whose row verifies and is current, and the baselines whose row is not.</summary>
    public async Task<RowSet<BaselineRecord>> ListBaselineRowsAsync()
    {
        var rows = await _db.QueryAsync("SELECT name, document, added_at, mac FROM baselines ORDER BY name",
            r => (new BaselineRecord(r.GetString(0), (byte[])r.GetValue(1), CommandFactory.FromUnixMs(r.GetInt64(2))), CommandFactory.Mac(r, 3))).ConfigureAwait(false);
        var history = await _history.AllAsync(BaselineSubjectPrefix, AdminRecordEvents.SettingChanged).ConfigureAwait(false);
        return RowMac.Partition(rows, (b, mac) => _mac.Verifies(mac, BaselinesTable, b.Name, b.Document, CommandFactory.ToUnixMs(b.AddedAt)), BaselinesTable, b => b.Name,
            b => BaselineSupersededBy(b, history[BaselineSubjectPrefix + b.Name]));
    }

    /// <summary>Removes a baseline; false when there is none of that name.</summary>
    public async Task<bool> RemoveBaselineAsync(string name) =>
        await _db.ExecuteAsync("DELETE FROM baselines WHERE name = @n", ("@n", name)).ConfigureAwait(false) > 0;

    /// <summary>Adds a baseline; false when the name is taken.</summary>
    public async Task<bool> AddBaselineAsync(BaselineRecord baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        long addedAt = CommandFactory.ToUnixMs(baseline.AddedAt);
        return await _db.ExecuteAsync(
            "INSERT INTO baselines (name, document, added_at, mac) VALUES (@n, @d, @a, @m) ON CONFLICT (name) DO NOTHING",
            ("@n", baseline.Name), ("@d", baseline.Document), ("@a", addedAt), ("@m", _mac.Seal(BaselinesTable, baseline.Name, baseline.Document, addedAt))).ConfigureAwait(false) > 0;
    }

    /// <summary>MACs every row as it is now (the one-time upgrade of a fabric from before row MACs); returns how many.</summary>
    internal async Task<int> SealAllAsync()
    {
        var states = await _db.QueryAsync("SELECT name, state FROM policies", r => (r.GetString(0), r.GetString(1))).ConfigureAwait(false);
        foreach (var (name, state) in states)
        {
            await _db.ExecuteAsync("UPDATE policies SET mac = @m WHERE name = @n", ("@n", name), ("@m", _mac.Seal(PoliciesTable, name, state))).ConfigureAwait(false);
        }

        var baselines = await _db.QueryAsync("SELECT name, document, added_at FROM baselines", r => (r.GetString(0), (byte[])r.GetValue(1), r.GetInt64(2))).ConfigureAwait(false);
        foreach (var (name, document, addedAt) in baselines)
        {
            await _db.ExecuteAsync("UPDATE baselines SET mac = @m WHERE name = @n", ("@n", name), ("@m", _mac.Seal(BaselinesTable, name, document, addedAt))).ConfigureAwait(false);
        }

        return states.Count + baselines.Count;
    }
}
