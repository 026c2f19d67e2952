using System.Data.Common;
using OpenHgs.Storage;

namespace OpenHgs.Service.Observability;

/// <summary>
/// Times every database transaction and read into <see cref="HgsMetrics"/> and counts database errors
/// (<c>hgs_database_errors_total</c> by operation and kind: unavailable, integrity, error).
/// </summary>
/// <remarks>
/// Security contract: measures only; every call, result and exception passes through unchanged. <see cref="IHgsDatabase"/>
/// has no optional capability interfaces today; one added later must be forwarded here the way
/// <see cref="MeteredKeyStore"/> forwards the key store's. Work that throws inside a transaction (a refusal, a
/// cancellation) is <c>aborted</c>, not a database error.
/// </remarks>
public sealed class MeteredDatabase(IHgsDatabase inner, HgsMetrics metrics) : IHgsDatabase
{
    private readonly IHgsDatabase _inner = inner ?? throw new ArgumentNullException(nameof(inner));
    private readonly HgsMetrics _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));

    public string Provider => _inner.Provider;

    public Task MigrateAsync(CancellationToken cancellationToken) =>
        MeasureAsync("migrate", async () =>
        {
            await _inner.MigrateAsync(cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => MeasureAsync("read", () => _inner.GetSchemaVersionAsync(cancellationToken));

    public Task<T> InTransactionAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) =>
        MeasureAsync("transaction", () => _inner.InTransactionAsync(work, cancellationToken));

    public Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) =>
        MeasureAsync("read", () => _inner.ReadAsync(work, cancellationToken));

    public Task<T> ReadSnapshotAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) =>
        MeasureAsync("read", () => _inner.ReadSnapshotAsync(work, cancellationToken));

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        long start = _metrics.Start();
        bool up = await _inner.PingAsync(cancellationToken).ConfigureAwait(false);
        _metrics.DatabaseOperation("ping", up ? HgsMetrics.Outcomes.Ok : HgsMetrics.Outcomes.Unavailable, _metrics.Since(start));
        return up;
    }

    public void Dispose() => _inner.Dispose();

    private async Task<T> MeasureAsync<T>(string operation, Func<Task<T>> run)
    {
        long start = _metrics.Start();
        string outcome = HgsMetrics.Outcomes.Aborted;
        try
        {
            var result = await run().ConfigureAwait(false);
            outcome = HgsMetrics.Outcomes.Ok;
            return result;
        }
        catch (DatabaseUnavailableException)
        {
            outcome = HgsMetrics.Outcomes.Unavailable;
            throw;
        }
        catch (RowIntegrityException)
        {
            outcome = HgsMetrics.Outcomes.Integrity;
            throw;
        }
        catch (DbException)
        {
            outcome = HgsMetrics.Outcomes.Error;
            throw;
        }
        finally
        {
            _metrics.DatabaseOperation(operation, outcome, _metrics.Since(start));
        }
    }
}
