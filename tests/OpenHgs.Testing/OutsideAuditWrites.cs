using System.Data.Common;
using Npgsql;
using OpenHgs.Storage;

namespace OpenHgs.Testing;

/// <summary>
/// What anyone who can write the database can do to the audit trail with SQL (the chain has no key), on a raw connection
/// to a SQLite or PostgreSQL database: what the tamper tests of design changes 64 and 67 do as an attacker, or as a
/// release before sealing wrote.
/// </summary>
public static class OutsideAuditWrites
{
    /// <summary>Appends <paramref name="record"/> well formed (linked to the head, hashed, the head moved); returns its sequence.</summary>
    public static async Task<long> AppendAsync(DbConnection connection, AuditEvent record)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(record);
        long head;
        byte[] headHash;
        await using (var read = Command(connection, "SELECT seq, hash FROM audit_head WHERE id = 1"))
        await using (var reader = await read.ExecuteReaderAsync())
        {
            Xunit.Assert.True(await reader.ReadAsync(), "the audit head row is missing");
            (head, headHash) = (reader.GetInt64(0), (byte[])reader.GetValue(1));
        }

        long sequence = head + 1;
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        byte[] hash = AuditChain.ComputeHash(sequence, timestamp, record, headHash);
        await using (var insert = Command(connection,
            "INSERT INTO audit_log (seq, ts, event, outcome, subject, reason, details, prev_hash, hash) VALUES (@s, @ts, @ev, @o, @sub, @r, @d, @p, @h)",
            ("@s", sequence), ("@ts", timestamp.ToUnixTimeMilliseconds()), ("@ev", record.Event), ("@o", record.Outcome), ("@sub", record.Subject),
            ("@r", record.Reason), ("@d", record.Details), ("@p", headHash), ("@h", hash)))
        {
            Xunit.Assert.Equal(1, await insert.ExecuteNonQueryAsync());
        }

        await using (var move = Command(connection, "UPDATE audit_head SET seq = @s, hash = @h WHERE id = 1", ("@s", sequence), ("@h", hash)))
        {
            Xunit.Assert.Equal(1, await move.ExecuteNonQueryAsync());
        }

        return sequence;
    }

    /// <summary>
    /// Drops the trigger that refuses unsealed admin records after the marker (design change 67), as a database writer
    /// forging records would first: it stops nodes of older releases, not someone who can change the schema.
    /// </summary>
    public static async Task DropSealGuardAsync(DbConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var drop = Command(connection, $"DROP TRIGGER {SqlDialect.SealedAdminRecordsTrigger}" + (connection is NpgsqlConnection ? " ON audit_log" : string.Empty));
        await drop.ExecuteNonQueryAsync();
    }

    private static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }
}
