using OpenHgs.Crypto;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;

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
}

/// <summary>
/// <c>hgs keys custody</c> (design change 71): asks the key store, copy by copy, how it holds every key the fabric uses —
/// the fabric keys, the audit checkpoint key and the row-MAC key — and judges the answers (<see cref="KeyCustodyRules"/>).
/// It reads token attributes only: never key material, nothing written, nothing audited.
/// </summary>
public sealed class KeyCustodyCheck(FabricKeyManager keys, IKeyStore store)
{
    /// <summary>The fabric's keys that are not fabric keys: label, role, purpose.</summary>
    private static readonly (string Label, string Role, KeyPurpose Purpose)[] ServiceKeys =
    [
        (AuditCheckpointKey.Label, "audit-checkpoint", KeyPurpose.Signing),
        (KeyStoreRowAuthenticator.MacKeyLabel, "row-mac", KeyPurpose.Mac),
    ];

    /// <exception cref="KeyStoreUnavailableException">The key store cannot be asked at all.</exception>
    public async Task<IReadOnlyList<KeyCustodyEntry>> CheckAsync(CancellationToken cancellationToken)
    {
        var snapshot = await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        var wanted = snapshot.Keys
            .OrderBy(k => k.Role).ThenBy(k => k.Id, StringComparer.Ordinal)
            .Select(k => (k.Record.Label, Role: k.Role.ToName(), Id: (string?)k.Id, Purpose: k.Role == FabricKeyRole.Encryption ? KeyPurpose.Decryption : KeyPurpose.Signing))
            .Concat(ServiceKeys.Select(k => (k.Label, k.Role, Id: (string?)null, k.Purpose)));
        var entries = new List<KeyCustodyEntry>();
        foreach (var (label, role, id, purpose) in wanted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var custody = store.DescribeCustody(label);
            entries.Add(new KeyCustodyEntry(label, role, id, purpose, custody, KeyCustodyRules.Judge(custody, purpose)));
        }

        return entries;
    }
}
