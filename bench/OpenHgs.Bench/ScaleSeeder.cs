using System.Data.Common;
using System.Security.Cryptography;
using Npgsql;
using NpgsqlTypes;
using OpenHgs.Service.Hosts;
using OpenHgs.Storage;

namespace OpenHgs.Bench;

/// <summary>
/// Fills the service's database for the scale run, directly with SQL in one transaction: registered hosts (real
/// P-256 public keys) and audit records that extend the live chain validly — each hash computed with
/// <see cref="AuditChain.ComputeHash"/> from the head, and the head updated — so the running service keeps
/// appending to it and <c>hgs audit verify</c> still passes.
/// </summary>
public sealed class ScaleSeeder(BenchDatabase database, Progress progress)
{
    public async Task SeedAsync(int hosts, int firstHostIndex, int auditRecords, CancellationToken cancellationToken)
    {
        progress.Info($"generating {hosts:N0} P-256 host keys");
        var keys = new byte[hosts][];
        Parallel.For(0, hosts, i =>
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            keys[i] = key.ExportSubjectPublicKeyInfo();
        });

        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // SQLite: BEGIN IMMEDIATE (the service's writers wait); PostgreSQL: the head row is locked below.
        await using var transaction = await connection.BeginTransactionAsync(connection is NpgsqlConnection ? System.Data.IsolationLevel.ReadCommitted : System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false);
        var (headSequence, headHash) = await ReadHeadForUpdateAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        long addedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        progress.Info($"inserting {hosts:N0} hosts and {auditRecords:N0} audit records after audit record {headSequence} ({database.Provider}, one transaction)");
        var (lastSequence, lastHash) = connection is NpgsqlConnection pg
            ? await CopyAsync(pg, keys, firstHostIndex, addedAt, auditRecords, headSequence, headHash, cancellationToken).ConfigureAwait(false)
            : await InsertAsync(connection, transaction, keys, firstHostIndex, addedAt, auditRecords, headSequence, headHash, cancellationToken).ConfigureAwait(false);

        await using (var update = connection.CreateCommand())
        {
            update.Transaction = transaction;
            update.CommandText = "UPDATE audit_head SET seq = @s, hash = @h WHERE id = 1";
            BenchDatabase.Parameter(update, "@s").Value = lastSequence;
            BenchDatabase.Parameter(update, "@h").Value = lastHash;
            await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        progress.Info("committing");
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (connection is not NpgsqlConnection)
        {
            // Fold the large WAL into the database now, rather than in the first measured request after it.
            await using var checkpoint = connection.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            await checkpoint.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // VACUUM as well as ANALYZE: since PostgreSQL 13 a million inserted rows also start an autovacuum, which
            // would otherwise share the two cores with the measured attestations (a real trail grows gradually, and
            // autovacuum keeps up with it).
            await using var analyze = connection.CreateCommand();
            analyze.CommandText = "VACUUM (ANALYZE) hosts, audit_log;";
            analyze.CommandTimeout = 600;
            await analyze.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<(long Sequence, byte[] Hash)> ReadHeadForUpdateAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var head = connection.CreateCommand();
        head.Transaction = transaction;
        head.CommandText = "SELECT seq, hash FROM audit_head WHERE id = 1" + (connection is NpgsqlConnection ? " FOR UPDATE" : string.Empty);
        await using var reader = await head.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? (reader.GetInt64(0), (byte[])reader.GetValue(1))
            : throw new InvalidOperationException("the audit head row is missing");
    }

    private static string HostName(int index) => $"scale-host-{index:D6}";

    private static async Task<(long, byte[])> InsertAsync(
        DbConnection connection, DbTransaction transaction, byte[][] keys, int firstHostIndex, long addedAt, int auditRecords,
        long headSequence, byte[] headHash, CancellationToken cancellationToken)
    {
        await using (var insert = connection.CreateCommand())
        {
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO hosts (name, mode, public_key, key_thumbprint, added_at) VALUES (@n, @m, @k, @t, @a)";
            var name = BenchDatabase.Parameter(insert, "@n");
            BenchDatabase.Parameter(insert, "@m").Value = OpenHgs.Protocol.HealthCertificates.AttestationModeNames.HostKey;
            var key = BenchDatabase.Parameter(insert, "@k");
            var thumbprint = BenchDatabase.Parameter(insert, "@t");
            BenchDatabase.Parameter(insert, "@a").Value = addedAt;
            insert.Prepare();
            for (int i = 0; i < keys.Length; i++)
            {
                name.Value = HostName(firstHostIndex + i);
                key.Value = keys[i];
                thumbprint.Value = HostKeys.Thumbprint(keys[i]);
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await using var audit = connection.CreateCommand();
        audit.Transaction = transaction;
        audit.CommandText = "INSERT INTO audit_log (seq, ts, event, outcome, subject, reason, details, prev_hash, hash) VALUES (@s, @ts, @ev, @o, @sub, @r, @d, @p, @h)";
        var p = new[] { "@s", "@ts", "@ev", "@o", "@sub", "@r", "@d", "@p", "@h" }.Select(n => BenchDatabase.Parameter(audit, n)).ToArray();
        audit.Prepare();
        var factory = new AuditRecordFactory(seed: 4, hosts: keys.Length + firstHostIndex);
        byte[] previous = headHash;
        long sequence = headSequence;
        for (int i = 0; i < auditRecords; i++)
        {
            sequence++;
            var e = factory.Next(i);
            var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(addedAt + i / 1000);
            byte[] hash = AuditChain.ComputeHash(sequence, timestamp, e, previous);
            p[0].Value = sequence;
            p[1].Value = timestamp.ToUnixTimeMilliseconds();
            p[2].Value = e.Event;
            p[3].Value = e.Outcome;
            p[4].Value = e.Subject;
            p[5].Value = (object?)e.Reason ?? DBNull.Value;
            p[6].Value = e.Details;
            p[7].Value = previous;
            p[8].Value = hash;
            await audit.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            previous = hash;
        }

        return (sequence, previous);
    }

    private static async Task<(long, byte[])> CopyAsync(
        NpgsqlConnection connection, byte[][] keys, int firstHostIndex, long addedAt, int auditRecords,
        long headSequence, byte[] headHash, CancellationToken cancellationToken)
    {
        await using (var hosts = await connection.BeginBinaryImportAsync("COPY hosts (name, mode, public_key, key_thumbprint, added_at) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            for (int i = 0; i < keys.Length; i++)
            {
                await hosts.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await hosts.WriteAsync(HostName(firstHostIndex + i), NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await hosts.WriteAsync(OpenHgs.Protocol.HealthCertificates.AttestationModeNames.HostKey, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await hosts.WriteAsync(keys[i], NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                await hosts.WriteAsync(HostKeys.Thumbprint(keys[i]), NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await hosts.WriteAsync(addedAt, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            }

            await hosts.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        var factory = new AuditRecordFactory(seed: 4, hosts: keys.Length + firstHostIndex);
        byte[] previous = headHash;
        long sequence = headSequence;
        await using (var audit = await connection.BeginBinaryImportAsync("COPY audit_log (seq, ts, event, outcome, subject, reason, details, prev_hash, hash) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            for (int i = 0; i < auditRecords; i++)
            {
                sequence++;
                var e = factory.Next(i);
                var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(addedAt + i / 1000);
                byte[] hash = AuditChain.ComputeHash(sequence, timestamp, e, previous);
                await audit.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(sequence, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(timestamp.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(e.Event, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(e.Outcome, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(e.Subject, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                if (e.Reason is null)
                {
                    await audit.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await audit.WriteAsync(e.Reason, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                }

                await audit.WriteAsync(e.Details, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(previous, NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                await audit.WriteAsync(hash, NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                previous = hash;
            }

            await audit.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        return (sequence, previous);
    }
}
