using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// <c>hgs diagnose</c>: asks every listed node for its readiness (database, settings, key store, each HSM cluster member)
/// and prints one report per node, with the fabric_keys rows the node ignores (MAC failed, or key not in the key store). Exit 0 when every node is ready, 3 otherwise.
/// </summary>
internal static class DiagnoseCommand
{
    public static Command Build()
    {
        var url = CliOptions.Url();
        var json = CliOptions.Json();
        var caCertificate = CliOptions.CaCertificate();
        var command = new Command("diagnose", "Show each node's readiness: database, key store and HSM cluster members.") { url, caCertificate, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string urls = parse.GetValue(url) ?? Environment.GetEnvironmentVariable("HGS_URL")
                ?? throw new CliException("no service URL: pass --url or set HGS_URL.");
            var tls = new OpenHgs.Client.ClientTlsOptions(CliEnvironment.Path(parse.GetValue(caCertificate), "HGS_CACERT"));
            using var http = new HttpClient(tls.CreateHandler()) { Timeout = TimeSpan.FromSeconds(10) };
            var report = new JsonObject();
            bool allReady = true;
            foreach (string node in CliOptions.ServiceUrls(urls, "--url"))
            {
                var (status, checks) = await ProbeAsync(http, node, ct).ConfigureAwait(false);
                allReady &= status == "ready";
                report[node] = new JsonObject
                {
                    ["status"] = status,
                    ["checks"] = new JsonObject(checks.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value))),
                };
                if (!parse.GetValue(json))
                {
                    CliOutput.Line($"{node}: {status}");
                    foreach (var (name, value) in checks.OrderBy(c => c.Key, StringComparer.Ordinal))
                    {
                        CliOutput.Line($"  {name,-20} {value}");
                    }
                }
            }

            if (parse.GetValue(json))
            {
                CliOutput.Json(report);
            }

            return allReady ? ExitCodes.Success : ExitCodes.Unavailable;
        }));
        return command;
    }

    private static async Task<(string Status, IReadOnlyDictionary<string, string> Checks)> ProbeAsync(HttpClient http, string node, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(new Uri(node.TrimEnd('/') + "/"), "healthz/ready"), ct).ConfigureAwait(false);
            var health = await response.Content.ReadFromJsonAsync(WireJson.Default.HealthReport, ct).ConfigureAwait(false);
            return health is null ? ("unreadable", new Dictionary<string, string>()) : (health.Status, health.Checks);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or UriFormatException)
        {
            return ("unreachable", new Dictionary<string, string> { ["connection"] = ex.Message });
        }
    }
}
