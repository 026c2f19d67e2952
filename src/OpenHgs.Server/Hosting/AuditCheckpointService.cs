using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// Signs the audit head when the service starts (before it listens), every <see cref="AuditCheckpointOptions.Interval"/>
/// (records written outside the group commit, such as attestations and admin changes, are covered this way), and on a
/// clean shutdown (after the last request finished). A checkpoint that cannot be made is logged as an error; releases
/// are refused meanwhile, because their group commit tries to sign too (<see cref="AuditWriter"/>).
/// </summary>
internal sealed partial class AuditCheckpointService(AuditCheckpointer checkpointer, TimeProvider time, ILogger<AuditCheckpointService> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await CheckpointAsync("start", cancellationToken).ConfigureAwait(false);
        _loop = LoopAsync();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await CheckpointAsync("shutdown", cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>
    /// The checkpoint key at service start. A data folder initialised before checkpoints existed has none: it is created
    /// then (logged), unless the database already holds checkpoints, which means the fabric has a key this store lacks.
    /// </summary>
    public static AuditCheckpointKey OpenKey(IKeyStore store, bool databaseHasCheckpoints, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(logger);
        if (AuditCheckpointKey.Find(store) is { } key)
        {
            return key;
        }

        if (databaseHasCheckpoints)
        {
            throw new HgsConfigurationException("keyStore", $"The database holds audit checkpoints, but this node's key store has no audit checkpoint key ('{AuditCheckpointKey.Label}'). Give every node the same HSM keys.");
        }

        var created = AuditCheckpointKey.Create(store);
        LogKeyCreated(logger, AuditCheckpointKey.Label, Convert.ToHexStringLower(created.KeyId));
        return created;
    }

    /// <summary>True when any checkpoint row exists.</summary>
    public static Task<bool> DatabaseHasCheckpointsAsync(IHgsDatabase database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        return database.ReadAsync(async s => (await s.Audit.CheckpointsBeforeAsync(long.MaxValue, 1).ConfigureAwait(false)).Count > 0, cancellationToken);
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(checkpointer.Options.Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                await CheckpointAsync("interval", _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping: the shutdown checkpoint follows.
        }
    }

    private async Task CheckpointAsync(string occasion, CancellationToken cancellationToken)
    {
        try
        {
            await checkpointer.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (AuditCheckpointRefusedException ex)
        {
            LogRefused(logger, occasion, ex.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            LogFailed(logger, occasion, ex);
        }
    }

    [LoggerMessage(EventId = 1911, Level = LogLevel.Critical, Message = "Audit checkpoint ({Occasion}) refused, the audit trail was tampered with: {Problem}")]
    private static partial void LogRefused(ILogger logger, string occasion, string problem);

    [LoggerMessage(EventId = 1912, Level = LogLevel.Error, Message = "Audit checkpoint ({Occasion}) could not be made; key releases are refused until one can")]
    private static partial void LogFailed(ILogger logger, string occasion, Exception exception);

    [LoggerMessage(EventId = 1913, Level = LogLevel.Warning, Message = "Created the audit checkpoint key '{Label}' (key id {KeyId}): this data folder predates audit checkpoints. Every other node of the fabric needs this key in its HSM before it starts")]
    private static partial void LogKeyCreated(ILogger logger, string label, string keyId);
}
