using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Keys;

namespace OpenHgs.Server.Endpoints;

/// <summary>The key custody check (<see cref="KeyCustodyCheck"/>) as its wire contract.</summary>
internal static class KeyCustodyContracts
{
    public static KeyCustodyReport ToReport(IReadOnlyList<KeyCustodyEntry> entries) =>
        new(entries.All(e => e.Passed), [.. entries.Select(ToInfo)]);

    private static KeyCustodyInfo ToInfo(KeyCustodyEntry e) => new(
        e.Label,
        e.Role,
        e.FabricKeyId,
        e.Purpose.ToString(),
        e.Passed,
        [.. e.Custody.Select(c => new KeyCopyInfo(c.Holder, c.Kind.ToString(), c.Attributes is { } a ? ToInfo(a) : null, c.Problem))],
        [.. e.Findings.Select(f => new KeyCustodyFindingInfo(f.Code.ToString(), f.Severity == KeyCustodySeverity.Failure ? "failure" : "warning", f.Holder, f.Message, f.Critical, f.Accepted))]);

    private static KeyAttributesInfo ToInfo(TokenKeyAttributes a) => new(
        a.Token, a.Private, a.Sensitive, a.AlwaysSensitive, a.Extractable, a.NeverExtractable, a.Local, a.Modifiable,
        [.. Enum.GetValues<KeyOperations>().Where(o => o != KeyOperations.None && a.Operations.HasFlag(o)).Select(o => o.ToString())]);
}
