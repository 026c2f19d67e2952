using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Bench;

/// <summary><c>hgs audit verify</c> through the service (GET /admin/v1/audit/verify), timed, with the service's RSS after it.</summary>
public sealed record AdminVerifyResult(bool Valid, long Records, double Seconds, double PeakRssAfterMb);

public static class AdminAuditVerify
{
    public static async Task<AdminVerifyResult> RunAsync(ServiceProcess service, string adminToken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        using var http = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        long start = Stopwatch.GetTimestamp();
        var result = await http.GetFromJsonAsync(new Uri("admin/v1/audit/verify", UriKind.Relative), WireJson.Default.AuditVerifyResult, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("audit verify answered null");
        return new AdminVerifyResult(result.Valid, result.Records, Stopwatch.GetElapsedTime(start).TotalSeconds, service.PeakRssMb);
    }
}
