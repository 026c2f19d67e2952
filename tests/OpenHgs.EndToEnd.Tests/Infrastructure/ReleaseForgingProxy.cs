using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A man in the middle on 127.0.0.1 between a guarded host and the real service: it forwards every request, and
/// lets a test rewrite successful key release answers. It has only what such an attacker has: the host's encryption
/// public key, taken from the health certificate inside the release request.
/// </summary>
public sealed class ReleaseForgingProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private int _forged;

    private ReleaseForgingProxy(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    public string Url => _app.Urls.First();

    /// <summary>Rewrites a release answer given the host's public key; null forwards answers unchanged.</summary>
    public Action<JsonObject, RSA>? Forge { get; set; }

    /// <summary>How many release answers were rewritten.</summary>
    public int Forged => Volatile.Read(ref _forged);

    public static async Task<ReleaseForgingProxy> StartAsync(string upstreamUrl)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var proxy = new ReleaseForgingProxy(app, new HttpClient { BaseAddress = new Uri(upstreamUrl.TrimEnd('/') + "/") });
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        return proxy;
    }

    /// <summary>A random key of <paramref name="length"/> bytes, wrapped to <paramref name="hostKey"/> as the service would (RSA-OAEP-256).</summary>
    public static JsonObject WrappedRandomKey(RSA hostKey, int length = 32) => new()
    {
        ["algorithm"] = "RSA-OAEP-256",
        ["value"] = Convert.ToBase64String(hostKey.Encrypt(RandomNumberGenerator.GetBytes(length), RSAEncryptionPadding.OaepSHA256)),
    };

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        byte[] requestBytes = body.ToArray();
        using var forward = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path.Value!.TrimStart('/') + context.Request.QueryString);
        if (requestBytes.Length > 0)
        {
            forward.Content = new ByteArrayContent(requestBytes);
            forward.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        }

        using var answer = await _upstream.SendAsync(forward);
        byte[] responseBytes = await answer.Content.ReadAsByteArrayAsync();
        if (Forge is { } forge && answer.IsSuccessStatusCode && context.Request.Path == "/keyprotection/v1/release")
        {
            var request = JsonNode.Parse(requestBytes)!;
            using var certificate = X509CertificateLoader.LoadCertificate(Convert.FromBase64String((string)request["healthCertificate"]!));
            using var hostKey = certificate.GetRSAPublicKey()!;
            var response = JsonNode.Parse(responseBytes)!.AsObject();
            forge(response, hostKey);
            responseBytes = Encoding.UTF8.GetBytes(response.ToJsonString());
            Interlocked.Increment(ref _forged);
        }

        context.Response.StatusCode = (int)answer.StatusCode;
        context.Response.ContentType = answer.Content.Headers.ContentType?.ToString();
        await context.Response.Body.WriteAsync(responseBytes);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
