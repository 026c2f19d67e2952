namespace OpenHgs.Storage.Backup;

/// <summary>
/// Verifies a backup's rows as they stream past (from the database being backed up, or from a backup file being
/// restored): every row MAC with the key store's row-MAC key, and the audit chain against every checkpoint whose
/// signature the key store's checkpoint key verifies. Throws <see cref="BackupException"/> with
/// <see cref="BackupCodes.RowIntegrity"/> or <see cref="BackupCodes.AuditChain"/>; nothing it refuses may be written.
/// </summary>
public sealed class BackupIntegrity(IRowAuthenticator rows, Func<AuditCheckpoint, bool> checkpointSignatureValid, DateTimeOffset now)
{
    private readonly List<AuditCheckpoint> _checkpoints = [];
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private (long Sequence, byte[] Hash)? _head;
    private int _heads;
    private AuditTrailVerifier? _trail;

    /// <summary>Rows seen per table.</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    /// <summary>The audit head (newest sequence and hash) of the verified trail.</summary>
    public (long Sequence, byte[] Hash) Head => _head ?? throw new InvalidOperationException("no audit head was seen");

    /// <summary>Checks one row; the audit tables must come in catalog order (checkpoints, head, records).</summary>
    public void Row(BackupTable table, object?[] values)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(values);
        _counts[table.Name] = _counts.GetValueOrDefault(table.Name) + 1;
        if (table.RowMac && !BackupFormat.RowVerifies(rows, table, values))
        {
            throw new BackupException(BackupCodes.RowIntegrity,
                $"The {table.Name} row '{values[0]}' fails its integrity check (its MAC is missing or wrong): it was changed outside OpenHGS.");
        }

        switch (table.Name)
        {
            case BackupCatalog.AuditCheckpointsTable:
                _checkpoints.Add(new AuditCheckpoint((long)values[0]!, (byte[])values[1]!, CommandFactory.FromUnixMs((long)values[2]!), (byte[])values[3]!, (byte[])values[4]!));
                break;
            case BackupCatalog.AuditHeadTable:
                _heads++;
                _head = ((long)values[1]!, (byte[])values[2]!);
                break;
            case BackupCatalog.AuditLogTable:
                (_trail ??= NewTrail()).Add(new AuditEntry(
                    (long)values[0]!, CommandFactory.FromUnixMs((long)values[1]!), (string)values[2]!, (string)values[3]!, (string)values[4]!,
                    (string?)values[5], (string)values[6]!, (byte[])values[7]!, (byte[])values[8]!));
                break;
        }
    }

    /// <summary>The verdict on the audit trail, once every row was seen; throws when it does not verify.</summary>
    public AuditTrailReport Finish()
    {
        if (_heads != 1 || _head is null)
        {
            throw new BackupException(BackupCodes.AuditChain, $"The audit trail has {_heads} head rows; it must have exactly one.");
        }

        var report = (_trail ?? NewTrail()).Finish(_head.Value.Sequence, _head.Value.Hash);
        if (!report.Valid)
        {
            var reason = report.Reason!;
            throw new BackupException(BackupCodes.AuditChain, $"The audit trail does not verify ({reason.Kind} at record {reason.Sequence}): {reason.Detail}.");
        }

        return report;
    }

    // Records after the newest checkpoint are never "stale" here: a backup or restore signs a checkpoint of its own.
    private AuditTrailVerifier NewTrail() =>
        new(_checkpoints, new AuditCheckpointPolicy(checkpointSignatureValid, [], now, TimeSpan.MaxValue));
}
