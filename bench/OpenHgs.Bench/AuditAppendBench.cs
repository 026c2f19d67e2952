using OpenHgs.Storage;

namespace OpenHgs.Bench;

/// <summary>Durable audit appends in isolation, through the service's own storage code, on a scratch database of the same kind.</summary>
public sealed record AuditAppendRates(double SequentialPerSecond, double SequentialMeanMs, double ConcurrentPerSecond, int Concurrency, double Batched16RecordsPerSecond);

public static class AuditAppendBench
{
    public static async Task<AuditAppendRates> RunAsync(IHgsDatabase database, TimeSpan duration, int concurrency)
    {
        ArgumentNullException.ThrowIfNull(database);
        await database.MigrateAsync(CancellationToken.None).ConfigureAwait(false);
        var e = new AuditRecordFactory(seed: 7, hosts: 100).Next(1);
        Task One(CancellationToken ct) => database.InTransactionAsync(s => s.Audit.AppendAsync(e), ct);
        var sequential = await ClosedLoop.RunAsync(1, TimeSpan.FromSeconds(0.2), duration, long.MaxValue, (_, ct) => One(ct)).ConfigureAwait(false);
        var concurrent = await ClosedLoop.RunAsync(concurrency, TimeSpan.FromSeconds(0.2), duration, long.MaxValue, (_, ct) => One(ct)).ConfigureAwait(false);
        var batched = await ClosedLoop.RunAsync(1, TimeSpan.FromSeconds(0.2), duration, long.MaxValue, (_, ct) => database.InTransactionAsync(async s =>
        {
            for (int i = 0; i < 16; i++)
            {
                await s.Audit.AppendAsync(e).ConfigureAwait(false);
            }

            return 0;
        }, ct)).ConfigureAwait(false);
        return new AuditAppendRates(sequential.PerSecond, sequential.Operations == 0 ? 0 : sequential.Seconds * 1000 / sequential.Operations, concurrent.PerSecond, concurrency, batched.PerSecond * 16);
    }
}
