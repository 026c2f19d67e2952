using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.Tls;
using OpenHgs.Server.Configuration;
using OpenHgs.Service;
using OpenHgs.Service.Admin;

namespace OpenHgs.Server.Tls;

/// <summary>
/// Decides whether a request may use <c>/admin/v1</c>. Security contract: with <see cref="AdminAuthMode.Token"/> the
/// bearer credential is required; with <see cref="AdminAuthMode.ClientCertificate"/> a TLS client certificate that
/// chains to exactly the configured admin client CA (never the system roots), is valid now and allows client
/// authentication; with <see cref="AdminAuthMode.Both"/> both. A refusal throws a <see cref="ServiceException"/>:
/// 401 when a credential is missing, 403 when a client certificate is presented but not accepted, 429 from an address
/// that presented too many wrong tokens (<see cref="AdminAuthenticationThrottle"/>).
/// </summary>
public sealed partial class AdminAuthenticator
{
    private readonly AdminAuthMode _mode;
    private readonly AdminCredential _credential;
    private readonly X509Certificate2Collection? _clientCa;
    private readonly TimeProvider _time;
    private readonly ILogger<AdminAuthenticator> _logger;
    private readonly AdminAuthenticationThrottle _throttle;

    public AdminAuthenticator(AdminAuthMode mode, X509Certificate2Collection? clientCa, AdminCredential credential, TimeProvider time, ILogger<AdminAuthenticator> logger)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        if (mode != AdminAuthMode.Token && clientCa is null)
        {
            throw new ArgumentException("Client certificate authentication needs the admin client CA.", nameof(clientCa));
        }

        _mode = mode;
        _clientCa = clientCa;
        _credential = credential;
        _time = time;
        _logger = logger;
        _throttle = new AdminAuthenticationThrottle(time);
    }

    /// <summary>Reads the admin client CA file; a bad file is a configuration error naming it.</summary>
    public static X509Certificate2Collection LoadClientCa(string path)
    {
        var roots = CustomRootChain.LoadTrustFile(path, out string? problem);
        return problem is null ? roots : throw new HgsConfigurationException("adminClientCa", "--admin-client-ca " + problem);
    }

    public async Task AuthenticateAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (_mode != AdminAuthMode.Token)
        {
            await RequireClientCertificateAsync(http).ConfigureAwait(false);
        }

        if (_mode != AdminAuthMode.ClientCertificate)
        {
            string address = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            if (_throttle.RefusedFor(address) is { } wait)
            {
                int seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
                throw new ServiceException(ProblemKind.TooManyRequests, "AdminAuthenticationThrottled",
                    $"Too many wrong admin credentials from this address ({AdminAuthenticationThrottle.Limit} within {AdminAuthenticationThrottle.Window.TotalSeconds:F0} s); retry in {seconds} s.")
                { RetryAfterSeconds = seconds };
            }

            string? header = http.Request.Headers.Authorization;
            string? token = header is not null && header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : null;
            if (!await _credential.VerifyAsync(token, http.RequestAborted).ConfigureAwait(false))
            {
                // Who tried and how, never what: the presented token is not logged, even when it is wrong.
                LogTokenRefused(_logger, address, http.Request.Method, http.Request.Path.Value ?? string.Empty, token is null ? "no bearer token" : "wrong token");
                if (token is not null && _throttle.RecordFailure(address))
                {
                    LogThrottled(_logger, address, AdminAuthenticationThrottle.Limit, (int)AdminAuthenticationThrottle.Window.TotalSeconds);
                }

                throw new ServiceException(ProblemKind.Unauthorized, "AdminCredentialRequired", "Admin routes need the admin credential (Authorization: Bearer <DATA/admin.token>).");
            }
        }
    }

    private async Task RequireClientCertificateAsync(HttpContext http)
    {
        var certificate = http.Connection.ClientCertificate
            ?? await http.Connection.GetClientCertificateAsync(http.RequestAborted).ConfigureAwait(false);
        if (certificate is null)
        {
            throw new ServiceException(ProblemKind.Unauthorized, "AdminClientCertificateRequired",
                "Admin routes need a TLS client certificate issued by the admin client CA (hgs --client-cert FILE --client-key FILE, over https).");
        }

        string? problem = CustomRootChain.Problem(certificate, _clientCa!, CustomRootChain.ClientAuthentication, _time.GetUtcNow());
        if (problem is not null)
        {
            LogRejected(_logger, certificate.Subject, certificate.Thumbprint, problem);
            throw new ServiceException(ProblemKind.Forbidden, "AdminClientCertificateRejected",
                $"The client certificate '{certificate.Subject}' is not accepted for admin routes: it does not chain to the admin client CA ({problem}).");
        }
    }

    [LoggerMessage(EventId = 2211, Level = LogLevel.Warning, Message = "Admin request from {RemoteAddress} ({Method} {Path}) refused: {Reason}")]
    private static partial void LogTokenRefused(ILogger logger, string remoteAddress, string method, string path, string reason);

    [LoggerMessage(EventId = 2212, Level = LogLevel.Warning, Message = "Admin authentication from {RemoteAddress} throttled: {Limit} wrong tokens within {WindowSeconds} s; further requests from it are refused (429 AdminAuthenticationThrottled) without being checked or logged until the window ends")]
    private static partial void LogThrottled(ILogger logger, string remoteAddress, int limit, int windowSeconds);

    [LoggerMessage(EventId = 2210, Level = LogLevel.Warning, Message = "Admin client certificate {Subject} (SHA-1 {Thumbprint}) refused: {Problem}")]
    private static partial void LogRejected(ILogger logger, string subject, string thumbprint, string problem);
}
