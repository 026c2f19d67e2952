using System.Text.Json;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Policies;

/// <summary>
/// Every policy of the catalog has a state row (design change 62), so a database writer who deletes the row of a policy
/// the admin enabled does not silently switch it back to its default (<c>Hgs_DbxPresent</c> and
/// <c>Hgs_KernelCommandLine</c> ship disabled). A policy's row is written with its default state the first time a
/// service that knows the policy starts on the fabric (a new fabric at init, an older fabric on its first start, a new
/// policy in a later release on the first start of that release), recorded as <see cref="AuditEvents.PolicyStatesMadeExplicit"/>
/// with the names the service knew. A policy named in such a record whose row is gone was deleted: it is left missing,
/// and reading the policy set fails closed (<see cref="RowIntegrityException.Missing"/>, 503 <c>PolicyIntegrity</c>).
/// </summary>
/// <remarks>The procedure is <see cref="ExplicitRows"/>'s, shared with <see cref="Admin.ExplicitSettings"/>.</remarks>
public static class ExplicitPolicyStates
{
    private const string KnownDetail = "known";

    /// <summary>In <paramref name="s"/>'s write transaction: writes the default state of every policy never written before, and reports deleted ones.</summary>
    /// <param name="context">Recorded with the audit record: <c>init</c> (a new fabric) or <c>upgrade</c>.</param>
    public static Task<ExplicitRowsResult> EnsureAsync(HgsSession s, string context) => ExplicitRows.EnsureAsync(s, Kind.Instance, context);

    /// <summary>Each record lists every policy its release knew: a policy in none is new, not deleted.</summary>
    private sealed class Kind : IExplicitRowKind
    {
        public static readonly Kind Instance = new();

        public string Event => AuditEvents.PolicyStatesMadeExplicit;

        public string Subject => "policies";

        public IReadOnlyList<(string Key, string? Value)> RecordDetails { get; } = [(KnownDetail, string.Join(",", PolicyCatalog.All.Select(p => p.Name)))];

        public Task WriteAsync(HgsSession s, string name, string value) => s.Policies.SetStateAsync(name, value);

        public bool ExistedBefore(IReadOnlyList<AuditEntry> records, string name) => records.Any(record =>
        {
            using var details = JsonDocument.Parse(record.Details);
            return details.RootElement.TryGetProperty(KnownDetail, out var names)
                && names.GetString() is { } list
                && list.Split(',').Contains(name, StringComparer.Ordinal);
        });

        /// <summary>Catalog policies without a row; none when a row fails its MAC (left for the reader to refuse).</summary>
        public async Task<IReadOnlyList<(string Name, string Default)>> MissingAsync(HgsSession s)
        {
            Dictionary<string, string> states;
            try
            {
                states = await s.Policies.GetStatesAsync().ConfigureAwait(false);
            }
            catch (RowIntegrityException)
            {
                return [];
            }

            return PolicyCatalog.All.Where(p => !states.ContainsKey(p.Name)).Select(p => (p.Name, PolicyService.Name(p.DefaultState))).ToList();
        }
    }
}
