using System.Collections.Frozen;

namespace OpenHgs.Service.Keys;

/// <summary>
/// One critical custody finding an admin accepts for one key (<c>hgs server run --accept-key-custody LABEL:CODE</c>):
/// explicit per key and finding, so accepting <c>Extractable</c> for one key accepts nothing else about it or any other.
/// </summary>
public sealed record KeyCustodyAcceptance(string Label, KeyCustodyFindingCode Code)
{
    /// <summary>Reads <c>LABEL:CODE</c>; the code must name a critical finding (accepting anything else would mean nothing).</summary>
    /// <exception cref="FormatException">Not <c>LABEL:CODE</c>, or the code is not a critical finding.</exception>
    public static KeyCustodyAcceptance Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.LastIndexOf(':');
        string label = colon > 0 ? text[..colon] : string.Empty;
        string code = colon > 0 ? text[(colon + 1)..] : string.Empty;
        var critical = Enum.GetValues<KeyCustodyFindingCode>().Where(KeyCustodyRules.IsCritical).ToList();
        if (label.Length == 0 || !Enum.TryParse<KeyCustodyFindingCode>(code, ignoreCase: false, out var parsed) || !critical.Contains(parsed)
            || code.Any(char.IsDigit))
        {
            throw new FormatException($"'{text}' is not LABEL:CODE with CODE a critical custody finding ({string.Join(", ", critical)}).");
        }

        return new KeyCustodyAcceptance(label, parsed);
    }

    public override string ToString() => $"{Label}:{Code}";
}

/// <summary>
/// What the service does with a key that has a critical custody finding (design change 79). Enforced (<c>--production</c>):
/// such a key stops the start, and a fabric key found so by a later check (<c>hgs keys custody</c>, the dashboard, the
/// periodic re-check) is not used by attestation or key release until a check finds it clean — unless the admin accepted
/// that finding for that key. Not enforced (development): findings are reported only, as before.
/// </summary>
public sealed class KeyCustodyGate(bool enforced, IReadOnlyCollection<KeyCustodyAcceptance> accepted)
{
    /// <summary>Reports only, accepts nothing: for a check built without a gate.</summary>
    public static KeyCustodyGate ReportOnly { get; } = new(enforced: false, []);

    private volatile FrozenSet<string> _blocked = FrozenSet<string>.Empty;
    private long _generation;

    public bool Enforced { get; } = enforced;

    public IReadOnlyCollection<KeyCustodyAcceptance> Accepted { get; } = accepted ?? throw new ArgumentNullException(nameof(accepted));

    /// <summary>Changes whenever the set of blocked labels does, so a cached key snapshot is rebuilt at once.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>True when the key under <paramref name="label"/> must not be used (enforced, and its last check blocked it).</summary>
    public bool Blocks(string label) => _blocked.Contains(label);

    /// <summary>Marks the accepted findings and, when enforced, makes the blocked keys of this check the ones not used.</summary>
    public IReadOnlyList<KeyCustodyEntry> Apply(IReadOnlyList<KeyCustodyEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var marked = entries.Select(e => e with
        {
            Findings = [.. e.Findings.Select(f => f.Critical && Accepted.Contains(new KeyCustodyAcceptance(e.Label, f.Code)) ? f with { Accepted = true } : f)],
        }).ToList();
        if (Enforced)
        {
            var blocked = marked.Where(e => e.Blocked).Select(e => e.Label).ToFrozenSet(StringComparer.Ordinal);
            if (!blocked.SetEquals(_blocked))
            {
                _blocked = blocked;
                Interlocked.Increment(ref _generation);
            }
        }

        return marked;
    }
}
