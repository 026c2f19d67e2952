using System.Collections.Concurrent;

namespace OpenHgs.Server.Tls;

/// <summary>
/// Wrong admin credentials per client address: after <see cref="Limit"/> of them within <see cref="Window"/> (counted from
/// the first), that address is refused without its credential being checked until the window ends. Admin routes are
/// otherwise never limited (an operator locked out by a flood could not act on it); this limits only guesses, so a
/// flood of them costs neither a database read nor a log line each. A 256-bit token is not guessable anyway: the
/// limit is about load and log flooding, not secrecy. A missing credential is not a guess and is not counted.
/// </summary>
/// <remarks>
/// Memory is bounded: with more than <see cref="MaxAddresses"/> addresses on record, ended windows are dropped, and if
/// that is not enough the record starts over (every address gets its full allowance again, which only delays a refusal).
/// </remarks>
public sealed class AdminAuthenticationThrottle(TimeProvider time)
{
    public const int Limit = 100;
    public const int MaxAddresses = 10_000;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Failures> _byAddress = new(StringComparer.Ordinal);

    /// <summary>How long <paramref name="address"/> is still refused; null when it may try.</summary>
    public TimeSpan? RefusedFor(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var now = time.GetUtcNow();
        return _byAddress.TryGetValue(address, out var failures) && failures.Count >= Limit && now < failures.WindowEnd
            ? failures.WindowEnd - now
            : null;
    }

    /// <summary>Counts a wrong credential from <paramref name="address"/>; true when this one reached the limit.</summary>
    public bool RecordFailure(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var now = time.GetUtcNow();
        var failures = _byAddress.AddOrUpdate(
            address,
            _ => new Failures(1, now + Window),
            (_, current) => now >= current.WindowEnd ? new Failures(1, now + Window) : current with { Count = current.Count + 1 });
        if (_byAddress.Count > MaxAddresses)
        {
            Trim(now);
        }

        return failures.Count == Limit;
    }

    private void Trim(DateTimeOffset now)
    {
        foreach (var (address, failures) in _byAddress)
        {
            if (now >= failures.WindowEnd)
            {
                _byAddress.TryRemove(new KeyValuePair<string, Failures>(address, failures));
            }
        }

        if (_byAddress.Count > MaxAddresses)
        {
            _byAddress.Clear();
        }
    }

    private sealed record Failures(int Count, DateTimeOffset WindowEnd);
}
