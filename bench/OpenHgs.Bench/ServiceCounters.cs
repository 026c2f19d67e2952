using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace OpenHgs.Bench;

/// <summary>
/// What the running service has counted so far, from its Prometheus scrape (<c>--metrics http://127.0.0.1:PORT</c>):
/// key store operations by operation (<c>hgs_keystore_operation_duration_seconds_count</c>, every outcome: each is a
/// call into the token) and attestations answered (<c>hgs_attestations_total</c>, every outcome).
/// </summary>
public sealed partial record ServiceCounters(IReadOnlyDictionary<string, double> KeyStoreOperations, double Attestations)
{
    private const string KeyStoreSeries = "hgs_keystore_operation_duration_seconds_count";
    private const string AttestationSeries = "hgs_attestations_total";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<ServiceCounters> ReadAsync(ServiceProcess service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        // A connection of its own per scrape: the exporter's listener closes idle ones, and a scrape written into a
        // pooled connection it had closed failed the run ("Broken pipe", 7 Dec 2026).
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{service.MetricsPort}/metrics"));
        request.Headers.ConnectionClose = true;
        using var response = await Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The two series from Prometheus text (other series, comments and the exporter's scope labels ignored).</summary>
    public static ServiceCounters Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var operations = new Dictionary<string, double>(StringComparer.Ordinal);
        double attestations = 0;
        foreach (var match in SeriesLine().Matches(text).Cast<Match>())
        {
            double value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            switch (match.Groups["name"].Value)
            {
                case KeyStoreSeries when OperationLabel().Match(match.Groups["labels"].Value) is { Success: true } operation:
                    operations[operation.Groups[1].Value] = operations.GetValueOrDefault(operation.Groups[1].Value) + value;
                    break;
                case AttestationSeries:
                    attestations += value;
                    break;
            }
        }

        return new ServiceCounters(operations, attestations);
    }

    /// <summary>Key store operations per attestation answered between <paramref name="before"/> and this reading.</summary>
    public MeasuredTokenOps PerAttestationSince(ServiceCounters before)
    {
        ArgumentNullException.ThrowIfNull(before);
        double attestations = Attestations - before.Attestations;
        if (attestations <= 0)
        {
            throw new InvalidOperationException("the service counted no attestation between the two readings of its metrics");
        }

        double Per(string operation) => (KeyStoreOperations.GetValueOrDefault(operation) - before.KeyStoreOperations.GetValueOrDefault(operation)) / attestations;
        var others = KeyStoreOperations.Keys.Concat(before.KeyStoreOperations.Keys).Distinct(StringComparer.Ordinal)
            .Where(o => o is not ("sign" or "mac"))
            .Select(o => (Operation: o, PerRequest: Per(o)))
            .Where(o => o.PerRequest > 0)
            .ToDictionary(o => o.Operation, o => o.PerRequest, StringComparer.Ordinal);
        return new MeasuredTokenOps(Per("sign"), Per("mac"), others, (long)attestations);
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})?\s+(?<value>\S+)(\s+\d+)?\r?$", RegexOptions.Multiline)]
    private static partial Regex SeriesLine();

    [GeneratedRegex("(?:^|,)operation=\"([^\"]*)\"")]
    private static partial Regex OperationLabel();
}

/// <summary>
/// The key store operations one request really cost, averaged over <paramref name="Requests"/> requests the service
/// answered under load: signatures (the certificate's, plus audit checkpoint signatures amortised over the records),
/// row MACs (verifications the row-MAC memo did not answer, and the MACs of rows written), and any other operation.
/// </summary>
public sealed record MeasuredTokenOps(double Signatures, double RowMacs, IReadOnlyDictionary<string, double> Others, long Requests)
{
    /// <summary>Writes <c>{prefix}_token_ops_measured</c> and says what was measured.</summary>
    public void Record(JsonObject json, string prefix, Progress progress)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(progress);
        var measured = new JsonObject
        {
            ["signatures"] = BenchRun.Round(Signatures, 3),
            ["row_macs"] = BenchRun.Round(RowMacs, 3),
            ["requests"] = Requests,
        };
        foreach (var (operation, perRequest) in Others)
        {
            measured[operation] = BenchRun.Round(perRequest, 3);
        }

        json[$"{prefix}_token_ops_measured"] = measured;
        progress.Info($"{prefix}_token_ops_measured: {Signatures:F3} signatures and {RowMacs:F3} row MACs per request{string.Concat(Others.Select(o => $", {o.Value:F3} {o.Key}"))} (the service's key store metrics over the {Requests:N0} requests of the sweep; the token ceiling runs these counts)");
    }
}
