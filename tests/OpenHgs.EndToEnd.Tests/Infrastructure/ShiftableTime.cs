namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>Real time plus an offset the test moves, so the real server can be made to see expiry.</summary>
public sealed class ShiftableTime : TimeProvider
{
    private long _offsetTicks;

    public TimeSpan Offset
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
        set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
    }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;
}
