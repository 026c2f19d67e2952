using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace OpenHgs.Storage;

/// <summary>
/// The audit hash chain: each record's hash covers its sequence number, time, every field and the previous
/// record's hash, so editing, deleting, inserting or reordering any record breaks every later link; the
/// head row (last sequence and hash, updated in the same transaction) exposes removal of the newest record.
/// </summary>
public static class AuditChain
{
    /// <summary>The "previous hash" of record 1.</summary>
    public static readonly byte[] Genesis = SHA256.HashData(Encoding.ASCII.GetBytes("OpenHGS audit chain v1 genesis"));

    public static byte[] ComputeHash(long sequence, DateTimeOffset timestamp, AuditEvent e, ReadOnlySpan<byte> previousHash)
    {
        ArgumentNullException.ThrowIfNull(e);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        hash.AppendData("OpenHGS-audit-v1"u8);
        BinaryPrimitives.WriteInt64BigEndian(number, sequence);
        hash.AppendData(number);
        BinaryPrimitives.WriteInt64BigEndian(number, timestamp.ToUnixTimeMilliseconds());
        hash.AppendData(number);
        foreach (string? field in (ReadOnlySpan<string?>)[e.Event, e.Outcome, e.Subject, e.Reason, e.Details])
        {
            AppendField(hash, field);
        }

        hash.AppendData(previousHash);
        return hash.GetHashAndReset();
    }

    /// <summary>Walks records in sequence order and reports the first one that breaks the chain.</summary>
    public static AuditVerification Verify(IEnumerable<AuditEntry> entries, long headSequence, ReadOnlySpan<byte> headHash)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var verifier = new AuditChainVerifier();
        foreach (var entry in entries)
        {
            if (!verifier.Add(entry))
            {
                break;
            }
        }

        return verifier.Finish(headSequence, headHash);
    }

    private static void AppendField(IncrementalHash hash, string? field)
    {
        Span<byte> length = stackalloc byte[4];
        if (field is null)
        {
            BinaryPrimitives.WriteInt32BigEndian(length, -1);
            hash.AppendData(length);
            return;
        }

        byte[] bytes = Encoding.UTF8.GetBytes(field);
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}

/// <summary>
/// Checks the chain one record at a time, so a chain of millions of records is verified in constant memory.
/// Feed records in sequence order until <see cref="Add"/> returns false, then call <see cref="Finish"/>.
/// </summary>
public sealed class AuditChainVerifier
{
    private byte[] _previous;
    private long _expected;
    private AuditVerification? _broken;

    /// <summary>Verifies a whole chain, from record 1.</summary>
    public AuditChainVerifier()
        : this(0, AuditChain.Genesis)
    {
    }

    /// <summary>
    /// Verifies the records after <paramref name="after"/>, whose hash the caller already trusts (a signed checkpoint);
    /// <see cref="AuditVerification.Records"/> then counts from record 1 as if the trusted part had been walked.
    /// </summary>
    public AuditChainVerifier(long after, byte[] previousHash)
    {
        ArgumentNullException.ThrowIfNull(previousHash);
        ArgumentOutOfRangeException.ThrowIfNegative(after);
        _previous = previousHash;
        _expected = after + 1;
    }

    /// <summary>Checks the next record; false once the chain is broken (later records cannot repair it).</summary>
    public bool Add(AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (_broken is not null)
        {
            return false;
        }

        if (entry.Sequence != _expected)
        {
            _broken = AuditVerification.Broken(_expected, _expected - 1, $"record {_expected} is missing (next present is {entry.Sequence})");
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(entry.PreviousHash, _previous))
        {
            _broken = AuditVerification.Broken(entry.Sequence, _expected - 1, $"record {entry.Sequence} does not link to record {entry.Sequence - 1}");
            return false;
        }

        var recomputed = AuditChain.ComputeHash(entry.Sequence, entry.Timestamp, new AuditEvent(entry.Event, entry.Outcome, entry.Subject, entry.Reason, entry.Details), _previous);
        if (!CryptographicOperations.FixedTimeEquals(recomputed, entry.Hash))
        {
            _broken = AuditVerification.Broken(entry.Sequence, _expected - 1, $"record {entry.Sequence} was altered (its hash does not match its content)");
            return false;
        }

        _previous = entry.Hash;
        _expected++;
        return true;
    }

    /// <summary>The verdict, given the head row (newest sequence and hash) that the chain must end at.</summary>
    public AuditVerification Finish(long headSequence, ReadOnlySpan<byte> headHash)
    {
        if (_broken is not null)
        {
            return _broken;
        }

        long count = _expected - 1;
        if (count != headSequence)
        {
            return AuditVerification.Broken(count + 1, count, $"the chain ends at record {count} but the head says {headSequence}: newest records were deleted");
        }

        return !CryptographicOperations.FixedTimeEquals(_previous, headHash)
            ? AuditVerification.Broken(count, count, $"the head hash does not match record {count}")
            : new AuditVerification(true, count, null, null, Convert.ToHexStringLower(_previous));
    }
}

/// <summary>Outcome of <see cref="AuditChain.Verify"/>: valid, or the first broken record and why.</summary>
public sealed record AuditVerification(bool Valid, long Records, long? FirstBrokenSequence, string? Problem, string? HeadHash)
{
    public static AuditVerification Broken(long sequence, long recordsChecked, string problem) => new(false, recordsChecked, sequence, problem, null);
}
