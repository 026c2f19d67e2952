using OpenHgs.Crypto;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Keys;

/// <summary>One key of the fabric, what its stores report about it, and the findings.</summary>
/// <param name="Label">The key's label in the store.</param>
/// <param name="Role">What the fabric uses it for: a fabric key role, <c>audit-checkpoint</c> or <c>row-mac</c>.</param>
/// <param name="FabricKeyId">The fabric key's id (null for the checkpoint and row-MAC keys).</param>
public sealed record KeyCustodyEntry(string Label, string Role, string? FabricKeyId, KeyPurpose Purpose, IReadOnlyList<KeyCustody> Custody,
    IReadOnlyList<KeyCustodyFinding> Findings)
{
    /// <summary>No failure: every copy of the key can be shown never to have left its store.</summary>
    public bool Passed => Findings.All(f => f.Severity != KeyCustodySeverity.Failure);

    /// <summary>A critical finding no admin accepted: <c>--production</c> refuses to start with, or to use, this key.</summary>
    public bool Blocked => Findings.Any(f => f.Critical && !f.Accepted);
}

/// <summary>
/// <c>hgs keys custody</c> (design change 71): asks the key store, copy by copy, how it holds every key the fabric uses —
/// the fabric keys, the audit checkpoint key and the row-MAC key — and judges the answers (<see cref="KeyCustodyRules"/>).
/// It reads token attributes only: never key material, nothing written, nothing audited.
/// </summary>
/// <remarks>
/// The fabric keys are every <c>fabric_keys</c> row whose MAC verifies, not only those the key snapshot uses: a key the
/// snapshot ignores because the token returns another object under its label first (<c>PublicKeyMismatch</c>) is exactly
/// the one whose custody is in question.
/// </remarks>
/// <remarks>
/// Every check goes through <paramref name="gate"/>: it marks the findings an admin accepted and, in production, stops the
/// fabric keys it blocks from being used until a later check finds them clean (design change 79).
/// </remarks>
public sealed class KeyCustodyCheck(IHgsDatabase database, IKeyStore store, KeyCustodyGate? gate = null)
{
    private readonly KeyCustodyGate _gate = gate ?? KeyCustodyGate.ReportOnly;

    /// <summary>The fabric's keys that are not fabric keys: label, role, purpose.</summary>
    private static readonly (string Label, string Role, KeyPurpose Purpose)[] ServiceKeys =
    [
        (AuditCheckpointKey.Label, "audit-checkpoint", KeyPurpose.Signing),
        (KeyStoreRowAuthenticator.MacKeyLabel, "row-mac", KeyPurpose.Mac),
    ];

    /// <exception cref="KeyStoreUnavailableException">The key store cannot be asked at all.</exception>
    public async Task<IReadOnlyList<KeyCustodyEntry>> CheckAsync(CancellationToken cancellationToken)
    {
        var rows = await database.ReadAsync(s => s.FabricKeys.ListAsync(), cancellationToken).ConfigureAwait(false);
        var wanted = rows.Rows
            .Select(r => (Record: r, Role: TryParseRole(r.Role)))
            .Where(r => r.Role is not null)
            .OrderBy(r => r.Role).ThenBy(r => r.Record.Id, StringComparer.Ordinal)
            .Select(r => (r.Record.Label, Role: r.Role!.Value.ToName(), Id: (string?)r.Record.Id,
                Purpose: r.Role == FabricKeyRole.Encryption ? KeyPurpose.Decryption : KeyPurpose.Signing))
            .Concat(ServiceKeys.Select(k => (k.Label, k.Role, Id: (string?)null, k.Purpose)));
        var entries = new List<KeyCustodyEntry>();
        foreach (var (label, role, id, purpose) in wanted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var custody = store.DescribeCustody(label);
            entries.Add(new KeyCustodyEntry(label, role, id, purpose, custody, KeyCustodyRules.Judge(custody, purpose)));
        }

        return _gate.Apply(entries);
    }

    // A row whose role cannot be read is reported by the key snapshot (RecordUnreadable); it names no purpose to judge by.
    private static FabricKeyRole? TryParseRole(string role)
    {
        try
        {
            return FabricKeyRoles.Parse(role);
        }
        catch (ServiceException)
        {
            return null;
        }
    }
}
