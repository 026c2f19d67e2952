using System.Globalization;
using Microsoft.Extensions.Logging;

namespace OpenHgs.Crypto.Cluster;

/// <summary>How a cluster treats failed members.</summary>
/// <param name="RetryInitial">How long a member that went down stays out before the first retry probe.</param>
/// <param name="RetryMaximum">The cap of the back-off, which doubles after every failed probe.</param>
/// <param name="MemberConcurrency">
/// At most this many operations inside one member at a time (null: no limit). <c>1</c> is required for p11-kit
/// remoting: p11-kit-client 0.24 multiplexes concurrent calls over one socket, and when its server dies mid-call the
/// callers waiting for their replies are never woken (they hang forever). A caller that waits longer than
/// <see cref="MemberQueueTimeout"/> for its turn counts the member as failed and fails over.
/// </param>
public sealed record ClusterOptions(TimeSpan RetryInitial, TimeSpan RetryMaximum, int? MemberConcurrency = null)
{
    /// <summary>How long an operation waits for its turn at a member with a concurrency limit before failing over (5 s).</summary>
    public TimeSpan MemberQueueTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>2 s doubling to 30 s.</summary>
    public static ClusterOptions Default { get; } = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
}

/// <summary>A member as configured: its name, its URI (for reports) and how to open it (again).</summary>
/// <param name="Name">Short name used in reports and logs, e.g. <c>m1</c>.</param>
/// <param name="Location">The member's key store URI; it holds no secrets.</param>
/// <param name="Open">Opens (and probes) the member's store; called at start and again whenever a down member is retried.</param>
public sealed record ClusterMemberDefinition(string Name, string Location, Func<IKeyStore> Open);

/// <summary>
/// Opens <c>cluster:</c> key stores: several member key stores (typically PKCS#11 tokens or modules) holding the
/// same keys, e.g.
/// <c>cluster:?member=pkcs11%3Atoken%3DA%3Fmodule-path%3D...&amp;member=pkcs11%3Atoken%3DB...&amp;retry-initial-ms=2000&amp;retry-max-ms=30000</c>.
/// </summary>
/// <remarks>
/// <para>Each <c>member=</c> value is a complete, percent-encoded key store URI of any non-cluster backend;
/// members are named <c>m1</c>, <c>m2</c>, ... in the order given. At least one member is required (two or more
/// for any availability gain). <c>retry-initial-ms</c> (default 2000) and <c>retry-max-ms</c> (default 30000)
/// set the circuit breaker's back-off; <c>member-concurrency=N</c> limits the operations inside one member at a time
/// (use 1 for members reached through p11-kit remoting, see <see cref="ClusterOptions"/>). Unknown attributes are refused; every problem is a
/// <see cref="KeyStoreConfigurationException"/> naming the attribute.</para>
/// <para>Members of one backend are checked together before any opens (<see cref="IKeyStoreCoexistenceCheck"/>): two
/// PKCS#11 members naming the same module file with different <c>module-env</c> are refused, since a module loads
/// once per process.</para>
/// <para>Security contract: member URIs carry no PINs (each member names its own <c>pin-source</c>), so the cluster
/// URI is as safe to store in <c>hgs.json</c> as a single member's. Members are reported and logged by their
/// redacted form (<see cref="KeyStoreUri.ToString"/>: <c>module-env</c> values hidden).</para>
/// </remarks>
public sealed class ClusterKeyStoreProvider : IKeyStoreProvider
{
    /// <summary>The URI scheme, <c>cluster</c>.</summary>
    public const string SchemeName = "cluster";

    private static readonly string[] KnownAttributes = ["member", "retry-initial-ms", "retry-max-ms", "member-concurrency"];

    private readonly Dictionary<string, IKeyStoreProvider> _memberProviders;
    private readonly TimeProvider _time;

    /// <summary>
    /// A provider whose members may use any of <paramref name="memberProviders"/> (not <c>cluster</c> itself). The
    /// cluster and its members log through the <see cref="KeyStoreOpenContext.Loggers"/> they are opened with.
    /// </summary>
    public ClusterKeyStoreProvider(IEnumerable<IKeyStoreProvider> memberProviders, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(memberProviders);
        _memberProviders = memberProviders.ToDictionary(p => p.Scheme, StringComparer.OrdinalIgnoreCase);
        if (_memberProviders.ContainsKey(SchemeName))
        {
            throw new ArgumentException("A cluster's members cannot be clusters.", nameof(memberProviders));
        }

        _time = time ?? TimeProvider.System;
    }

    public string Scheme => SchemeName;

    public IKeyStore Open(KeyStoreUri uri, KeyStoreOpenContext context)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(context);
        (IReadOnlyList<KeyStoreUri> members, ClusterOptions options) = Parse(uri);
        var definitions = members.Select((member, index) =>
        {
            IKeyStoreProvider provider = _memberProviders[member.Scheme];
            return new ClusterMemberDefinition(MemberName(index), member.ToString(), () => provider.Open(member, context));
        }).ToList();
        return ClusterKeyStore.Open(definitions, options, _time, context.Loggers.CreateLogger<ClusterKeyStore>());
    }

    /// <summary>Validates a <c>cluster:</c> URI: its member URIs (parsed, schemes known) and the back-off settings.</summary>
    public (IReadOnlyList<KeyStoreUri> Members, ClusterOptions Options) Parse(KeyStoreUri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!string.Equals(uri.Scheme, SchemeName, StringComparison.Ordinal))
        {
            throw new KeyStoreConfigurationException("keyStore", $"'{uri}' is not a cluster: URI.");
        }

        foreach (string name in uri.PathAttributes.Keys.Concat(uri.QueryAttributes.Keys))
        {
            if (!KnownAttributes.Contains(name, StringComparer.Ordinal) || uri.PathAttributes.ContainsKey(name))
            {
                throw new KeyStoreConfigurationException(name,
                    $"unknown cluster key store URI attribute (known, after '?': {string.Join(", ", KnownAttributes)}).");
            }
        }

        IReadOnlyList<string> memberTexts = uri.GetAll("member");
        if (memberTexts.Count == 0)
        {
            throw new KeyStoreConfigurationException("member",
                "a cluster key store needs at least one member=URI (percent-encoded key store URI, e.g. member=pkcs11%3Atoken%3D...).");
        }

        var members = new List<KeyStoreUri>();
        for (int i = 0; i < memberTexts.Count; i++)
        {
            KeyStoreUri member;
            try
            {
                member = KeyStoreUri.Parse(memberTexts[i]);
            }
            catch (KeyStoreConfigurationException ex)
            {
                throw new KeyStoreConfigurationException("member", $"member {i + 1} is not a key store URI ({ex.Message}); percent-encode it inside the cluster URI.");
            }

            if (string.Equals(member.Scheme, SchemeName, StringComparison.Ordinal))
            {
                throw new KeyStoreConfigurationException("member", $"member {i + 1} is itself a cluster; clusters do not nest.");
            }

            if (!_memberProviders.ContainsKey(member.Scheme))
            {
                throw new KeyStoreConfigurationException("member",
                    $"member {i + 1} has the unknown key store scheme '{member.Scheme}' (known: {string.Join(", ", _memberProviders.Keys)}).");
            }

            if (members.Any(m => string.Equals(m.Text, member.Text, StringComparison.Ordinal)))
            {
                throw new KeyStoreConfigurationException("member", $"member {i + 1} repeats an earlier member ('{member}').");
            }

            members.Add(member);
        }

        // Members of one backend may share process-wide state (a PKCS#11 module file loads once per process, with one
        // module-env): conflicts would only show when the second member opens, so they are refused here, up front.
        foreach (var group in members.Select((member, index) => (Name: MemberName(index), Uri: member)).GroupBy(m => m.Uri.Scheme, StringComparer.Ordinal))
        {
            if (_memberProviders[group.Key] is IKeyStoreCoexistenceCheck check)
            {
                check.CheckOpenTogether(group.ToList());
            }
        }

        TimeSpan initial = Milliseconds(uri, "retry-initial-ms", ClusterOptions.Default.RetryInitial);
        TimeSpan maximum = Milliseconds(uri, "retry-max-ms", ClusterOptions.Default.RetryMaximum);
        if (maximum < initial)
        {
            throw new KeyStoreConfigurationException("retry-max-ms", $"must be at least retry-initial-ms ({initial.TotalMilliseconds} ms).");
        }

        int? concurrency = null;
        if (uri.Get("member-concurrency") is { } concurrencyText)
        {
            concurrency = int.TryParse(concurrencyText, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 1024
                ? n
                : throw new KeyStoreConfigurationException("member-concurrency", $"'{concurrencyText}' is not a number of operations between 1 and 1024.");
        }

        return (members, new ClusterOptions(initial, maximum, concurrency));
    }

    private static string MemberName(int index) => $"m{index + 1}";

    private static TimeSpan Milliseconds(KeyStoreUri uri, string name, TimeSpan fallback)
    {
        if (uri.Get(name) is not { } text)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int ms) && ms is >= 10 and <= 3_600_000
            ? TimeSpan.FromMilliseconds(ms)
            : throw new KeyStoreConfigurationException(name, $"'{text}' is not a number of milliseconds between 10 and 3600000.");
    }
}
