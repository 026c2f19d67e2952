using System.Globalization;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Admin;

/// <summary>Setting names in the database.</summary>
public static class SettingNames
{
    public const string Mode = "mode";
    public const string DenyBefore = "deny-before";
    public const string ValidityMinutes = "health-certificate-validity-minutes";
    public const string PolicyVersion = "policy-version";
    public const string FabricName = "fabric-name";
    public const string AdminTokenHash = "admin-token-sha256";
}

/// <summary>The admin-tunable service settings, cached briefly so the hot paths do not query them each time.</summary>
public sealed class SettingsService(IHgsDatabase database, TimeProvider time)
{
    /// <summary>
    /// How long settings read from the database are used. Another node's change (sharing the database) is seen by this
    /// node at most this long after it commits; this node's own changes drop the cache at once (<see cref="Invalidate"/>).
    /// </summary>
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);
    private CachedSettings? _cached;
    private long _generation;

    public async Task<CurrentSettings> GetAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _cached) is { } c && c.Generation == Interlocked.Read(ref _generation) && time.GetUtcNow() - c.LoadedAt < CacheLifetime)
        {
            return c.Settings;
        }

        // Read before the database: a change committed while it is read leaves what is read stale at once.
        long generation = Interlocked.Read(ref _generation);
        CurrentSettings settings;
        try
        {
            settings = await database.ReadAsync(ReadAsync, cancellationToken).ConfigureAwait(false);
        }
        catch (RowIntegrityException ex)
        {
            // Fail closed: a deny-before date someone altered or removed, a validity someone raised or a mode someone
            // switched must never be used — and neither may the defaults that its absence would mean (ExplicitSettings).
            throw RowIntegrityProblems.ToRefusal(ex);
        }

        Volatile.Write(ref _cached, new CachedSettings(settings, time.GetUtcNow(), generation));
        return settings;
    }

    public async Task SetModeAsync(AttestationMode mode, CancellationToken cancellationToken) =>
        await ChangeAsync(SettingNames.Mode, AttestationModeNames.Of(mode), AttestationModeNames.Of(mode), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Health certificates issued before this instant are refused by key release (null clears it). Cleared is a row
    /// too (<see cref="ExplicitSettings.NoDenyBefore"/>), so a deleted row can never pass for a cleared one.
    /// </summary>
    public async Task SetDenyBeforeAsync(DateTimeOffset? denyBefore, CancellationToken cancellationToken)
    {
        string? milliseconds = denyBefore?.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        await ChangeAsync(SettingNames.DenyBefore, milliseconds ?? ExplicitSettings.NoDenyBefore, milliseconds, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sets the deny-before date to this node's clock and returns it. "Now" must be the service's time: health
    /// certificates are stamped with it, so an admin workstation whose clock lags would leave the certificates issued
    /// in the lag valid (a review finding). Nodes of a cluster must keep their clocks synchronised (docs/deploy.md).
    /// </summary>
    public async Task<DateTimeOffset> SetDenyBeforeNowAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());
        await SetDenyBeforeAsync(now, cancellationToken).ConfigureAwait(false);
        return now;
    }

    public async Task SetValidityAsync(TimeSpan validity, CancellationToken cancellationToken)
    {
        if (validity < TimeSpan.FromMinutes(5) || validity > TimeSpan.FromDays(7))
        {
            throw ServiceException.BadRequest("ValidityOutOfRange", "Health certificate validity must be between 5 minutes and 7 days.");
        }

        string minutes = ((int)validity.TotalMinutes).ToString(CultureInfo.InvariantCulture);
        await ChangeAsync(SettingNames.ValidityMinutes, minutes, minutes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops the cached settings (after a change made outside this service, e.g. a policy version bump).</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _generation);
        Volatile.Write(ref _cached, null);
    }

    public static AttestationMode ParseMode(string name) => AttestationModeNames.TryParse(name)
        ?? throw ServiceException.BadRequest("UnknownMode", $"Unknown attestation mode '{name}': use {AttestationModeNames.HostKey} or {AttestationModeNames.Tpm}.");

    /// <param name="audited">The value as the audit record shows it (null for a cleared deny-before date).</param>
    private async Task ChangeAsync(string name, string value, string? audited, CancellationToken cancellationToken)
    {
        await database.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(name, value).ConfigureAwait(false);
            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, name, null, ("value", audited))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        Invalidate();
    }

    /// <summary>
    /// Mode, deny-before and validity must have rows (<see cref="ExplicitSettings"/>); the policy version and fabric name
    /// have defaults. Read every <see cref="CacheLifetime"/>, so an older copy of a row put back is refused from the next
    /// read on (the fabric name, which decides nothing, is not checked against the trail).
    /// </summary>
    private static async Task<CurrentSettings> ReadAsync(HgsSession s)
    {
        // The explicit ones are never null (a missing row throws).
        string mode = (await SettingHistory.ReadCurrentAsync(s, SettingNames.Mode).ConfigureAwait(false))!;
        string deny = (await SettingHistory.ReadCurrentAsync(s, SettingNames.DenyBefore).ConfigureAwait(false))!;
        string validity = (await SettingHistory.ReadCurrentAsync(s, SettingNames.ValidityMinutes).ConfigureAwait(false))!;
        string? policy = await SettingHistory.ReadCurrentAsync(s, SettingNames.PolicyVersion).ConfigureAwait(false);
        string name = await SettingHistory.ReadCurrentAsync(s, SettingNames.FabricName).ConfigureAwait(false) ?? "OpenHGS fabric";
        return new CurrentSettings(
            ParseMode(mode),
            deny == ExplicitSettings.NoDenyBefore ? null : DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(deny, CultureInfo.InvariantCulture)),
            TimeSpan.FromMinutes(int.Parse(validity, CultureInfo.InvariantCulture)),
            policy is null ? 1 : int.Parse(policy, CultureInfo.InvariantCulture),
            name);
    }
}

/// <summary>The settings in force.</summary>
public sealed record CurrentSettings(AttestationMode Mode, DateTimeOffset? DenyBefore, TimeSpan Validity, int PolicyVersion, string FabricName)
{
    public ServiceSettings ToContract() => new(AttestationModeNames.Of(Mode), DenyBefore, (int)Validity.TotalMinutes, PolicyVersion);
}

/// <summary>Settings read at one time under one invalidation generation: swapped whole, never torn.</summary>
internal sealed record CachedSettings(CurrentSettings Settings, DateTimeOffset LoadedAt, long Generation);
