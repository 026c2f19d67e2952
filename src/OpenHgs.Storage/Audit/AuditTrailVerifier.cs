using System.Globalization;
using System.Security.Cryptography;

namespace OpenHgs.Storage;

/// <summary>Where a checkpoint the verifier holds came from.</summary>
public enum AuditCheckpointSource
{
    /// <summary>A row of <c>audit_checkpoints</c> whose signature verified.</summary>
    Database,

    /// <summary>The newest checkpoint this service process signed (kept in memory, so deleting rows cannot hide it).</summary>
    Process,

    /// <summary>A checkpoint the operator exported and kept outside the database (<c>hgs audit verify --checkpoint</c>).</summary>
    File,
}

/// <summary>A checkpoint whose signature verified: the chain must hold exactly this.</summary>
public sealed record TrustedCheckpoint(AuditCheckpointSource Source, long Sequence, byte[] Hash, DateTimeOffset SignedAt);

/// <summary>A checkpoint held outside the database (this process's newest, the operator's file), checked like a row.</summary>
public sealed record HeldCheckpoint(AuditCheckpointSource Source, AuditCheckpoint Checkpoint);

/// <summary>What is wrong with an audit trail, most serious first (the first finding is the verdict's reason).</summary>
public enum AuditFindingKind
{
    /// <summary>The hash chain itself is broken (a record edited, missing, or the head row does not match).</summary>
    ChainBroken,

    /// <summary>A checkpoint names a record the chain no longer has: the newest records were deleted.</summary>
    Truncated,

    /// <summary>A record's hash differs from the one a checkpoint signed: records were rewritten and the chain recomputed.</summary>
    Rewritten,

    /// <summary>A checkpoint signed earlier (this process's, or the operator's file) is no longer in the database.</summary>
    CheckpointDeleted,

    /// <summary>A checkpoint row's signature does not verify with the key store's checkpoint key (forged or altered).</summary>
    CheckpointBadSignature,

    /// <summary>Records after the newest checkpoint have stayed unsigned far longer than checkpoints are made.</summary>
    UnsignedTailStale,
}

/// <summary>One problem found: its kind, which checkpoint (by source) showed it, and the sequence number concerned.</summary>
public sealed record AuditFinding(AuditFindingKind Kind, AuditCheckpointSource? Source, long Sequence, string Detail);

/// <summary>What the verifier trusts beyond the database: the checkpoint key (as a signature check) and checkpoints held elsewhere.</summary>
/// <param name="SignatureValid">True when a checkpoint was signed by the key store's checkpoint key.</param>
/// <param name="External">Checkpoints held outside the database (this process's newest, the operator's file).</param>
/// <param name="Now">The verifier's clock, for the unsigned tail's age.</param>
/// <param name="StaleAfter">An unsigned tail older than this is a finding, younger only a warning.</param>
public sealed record AuditCheckpointPolicy(
    Func<AuditCheckpoint, bool> SignatureValid,
    IReadOnlyList<HeldCheckpoint> External,
    DateTimeOffset Now,
    TimeSpan StaleAfter);

/// <summary>The verdict on the chain and on every checkpoint.</summary>
/// <param name="Chain">The hash chain on its own (as before checkpoints existed).</param>
/// <param name="Newest">The newest trusted checkpoint the chain matches, if any.</param>
/// <param name="UnsignedRecords">Records after <paramref name="Newest"/> (all records when there is none); 0 when the chain is broken.</param>
/// <param name="OldestUnsignedAt">Time of the first unsigned record.</param>
public sealed record AuditTrailReport(
    AuditVerification Chain,
    TrustedCheckpoint? Newest,
    long UnsignedRecords,
    DateTimeOffset? OldestUnsignedAt,
    IReadOnlyList<AuditFinding> Findings)
{
    public bool Valid => Findings.Count == 0;

    /// <summary>The most serious finding (null when valid).</summary>
    public AuditFinding? Reason => Findings.Count == 0 ? null : Findings[0];
}

/// <summary>
/// Walks the chain once (streaming, like <see cref="AuditChainVerifier"/>) and checks it against every trusted checkpoint:
/// each must name a record the chain has, with exactly the hash it signed. Feed records in order until <see cref="Add"/>
/// returns false, then call <see cref="Finish"/>.
/// </summary>
public sealed class AuditTrailVerifier
{
    private readonly AuditChainVerifier _chain = new();
    private readonly AuditCheckpointPolicy _policy;
    private readonly Dictionary<long, List<TrustedCheckpoint>> _bySequence = [];
    private readonly List<TrustedCheckpoint> _trusted = [];
    private readonly HashSet<(long, string)> _inDatabase = [];
    private readonly List<AuditFinding> _findings = [];
    private TrustedCheckpoint? _newest;
    private DateTimeOffset? _firstUnsignedAt;
    private bool _walkBroken;

    /// <param name="checkpoints">Every row of <c>audit_checkpoints</c>, read before the head row.</param>
    /// <param name="policy">The signature check and the checkpoints trusted from outside the database.</param>
    public AuditTrailVerifier(IEnumerable<AuditCheckpoint> checkpoints, AuditCheckpointPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(policy);
        _policy = policy;
        foreach (var row in checkpoints)
        {
            if (policy.SignatureValid(row))
            {
                _trusted.Add(new TrustedCheckpoint(AuditCheckpointSource.Database, row.Sequence, row.Hash, row.SignedAt));
                _inDatabase.Add((row.Sequence, Convert.ToHexStringLower(row.Hash)));
            }
            else
            {
                _findings.Add(new(AuditFindingKind.CheckpointBadSignature, AuditCheckpointSource.Database, row.Sequence,
                    $"checkpoint {row.Sequence} (signed at {Time(row.SignedAt)}) does not verify with the key store's checkpoint key: the row was forged or altered"));
            }
        }

        foreach (var (source, held) in policy.External)
        {
            var external = new TrustedCheckpoint(source, held.Sequence, held.Hash, held.SignedAt);
            if (!policy.SignatureValid(held))
            {
                _findings.Add(new(AuditFindingKind.CheckpointBadSignature, source, held.Sequence,
                    $"checkpoint {held.Sequence} ({Describe(external)}) does not verify with the key store's checkpoint key: it was forged, altered, or signed by another fabric's key"));
                continue;
            }

            _trusted.Add(external);
            if (!_inDatabase.Contains((held.Sequence, Convert.ToHexStringLower(held.Hash))))
            {
                _findings.Add(new(AuditFindingKind.CheckpointDeleted, source, held.Sequence,
                    $"checkpoint {held.Sequence} ({Describe(external)}) is no longer in the database: checkpoint rows were deleted"));
            }
        }

        foreach (var trusted in _trusted)
        {
            if (!_bySequence.TryGetValue(trusted.Sequence, out var list))
            {
                _bySequence[trusted.Sequence] = list = [];
            }

            list.Add(trusted);
        }
    }

    /// <summary>Checks the next record; false once the chain is broken.</summary>
    public bool Add(AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!_chain.Add(entry))
        {
            _walkBroken = true;
            return false;
        }

        if (entry.Sequence == (_newest?.Sequence ?? 0) + 1)
        {
            _firstUnsignedAt = entry.Timestamp;
        }

        if (_bySequence.TryGetValue(entry.Sequence, out var signed))
        {
            foreach (var checkpoint in signed)
            {
                if (CryptographicOperations.FixedTimeEquals(checkpoint.Hash, entry.Hash))
                {
                    _newest = checkpoint;
                    _firstUnsignedAt = null;
                }
                else
                {
                    _findings.Add(new(AuditFindingKind.Rewritten, checkpoint.Source, entry.Sequence,
                        $"record {entry.Sequence}'s hash differs from the one checkpoint {entry.Sequence} ({Describe(checkpoint)}) signed: records up to {entry.Sequence} were rewritten and the chain recomputed"));
                }
            }
        }

        return true;
    }

    /// <summary>The verdict, given the head row read after the checkpoints.</summary>
    public AuditTrailReport Finish(long headSequence, ReadOnlySpan<byte> headHash)
    {
        var chain = _chain.Finish(headSequence, headHash);
        var findings = new List<AuditFinding>(_findings);
        if (!chain.Valid)
        {
            findings.Add(new(AuditFindingKind.ChainBroken, null, chain.FirstBrokenSequence ?? 0, chain.Problem ?? "the chain is broken"));
        }

        long unsigned = 0;
        if (!_walkBroken)
        {
            // The walk reached the end: every record the chain has was seen, so a checkpoint beyond it names deleted records.
            long length = chain.Records;
            foreach (var checkpoint in _trusted.Where(c => c.Sequence > length))
            {
                findings.Add(new(AuditFindingKind.Truncated, checkpoint.Source, checkpoint.Sequence,
                    $"checkpoint {checkpoint.Sequence} ({Describe(checkpoint)}) names record {checkpoint.Sequence} but the chain ends at record {length}: the newest records were deleted"));
            }
        }

        if (chain.Valid)
        {
            unsigned = chain.Records - (_newest?.Sequence ?? 0);
            if (unsigned > 0 && _firstUnsignedAt is { } oldest && _policy.Now - oldest > _policy.StaleAfter)
            {
                findings.Add(new(AuditFindingKind.UnsignedTailStale, null, (_newest?.Sequence ?? 0) + 1,
                    $"{unsigned} records after {(_newest is null ? "the start of the chain" : $"checkpoint {_newest.Sequence}")} are unsigned, the oldest from {Time(oldest)} "
                    + $"(more than {_policy.StaleAfter.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s ago): checkpoints have stopped (see the service log: the key store cannot sign, or the chain does not extend the newest checkpoint)"));
            }
        }

        findings.Sort((a, b) => a.Kind != b.Kind ? a.Kind.CompareTo(b.Kind) : a.Sequence.CompareTo(b.Sequence));
        return new AuditTrailReport(chain, _newest, unsigned, chain.Valid && unsigned > 0 ? _firstUnsignedAt : null, findings);
    }

    private static string Describe(TrustedCheckpoint checkpoint) => checkpoint.Source switch
    {
        AuditCheckpointSource.Process => $"signed by this service at {Time(checkpoint.SignedAt)}",
        AuditCheckpointSource.File => $"from the checkpoint file, signed at {Time(checkpoint.SignedAt)}",
        _ => $"signed at {Time(checkpoint.SignedAt)}",
    };

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
