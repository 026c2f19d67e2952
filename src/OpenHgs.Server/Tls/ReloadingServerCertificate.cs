using System.Net.Security;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using OpenHgs.Server.Configuration;

namespace OpenHgs.Server.Tls;

/// <summary>
/// The server certificate every new TLS connection gets, rotated without a restart: a timer re-reads the certificate
/// files and, when their content changed and the new files load, swaps in the new <see cref="ServerCertificate"/> whole.
/// A new file that does not load (half-written pair, wrong password, expired) keeps the current certificate and logs
/// an error once per distinct content. Connections already open keep the certificate they were made with.
/// </summary>
public sealed partial class ReloadingServerCertificate : IDisposable
{
    private readonly TlsSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger<ReloadingServerCertificate> _logger;
    private readonly bool _requestClientCertificate;
    private readonly ITimer _timer;
    private readonly Lock _reloadLock = new();
    private ServerCertificate _current;
    private byte[] _lastSeenDigest;

    /// <param name="settings">Where the certificate comes from.</param>
    /// <param name="initial">The certificate loaded at start (a bad one stopped the start already).</param>
    /// <param name="requestClientCertificate">Ask every client for a certificate (admin mutual TLS); none is required.</param>
    /// <param name="interval">How often the files are checked.</param>
    /// <param name="time">Clock and timer.</param>
    /// <param name="logger">Where rotations and refused files are logged.</param>
    public ReloadingServerCertificate(TlsSettings settings, ServerCertificate initial, bool requestClientCertificate, TimeSpan interval, TimeProvider time, ILogger<ReloadingServerCertificate> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _settings = settings;
        _current = initial;
        _lastSeenDigest = initial.SourceDigest;
        _requestClientCertificate = requestClientCertificate;
        _time = time;
        _logger = logger;
        LogServing(_logger, initial.Leaf.Subject, initial.Leaf.Thumbprint, initial.Leaf.NotAfter.ToUniversalTime());
        _timer = time.CreateTimer(_ => CheckNow(), null, interval, interval);
    }

    /// <summary>The certificate new connections get now.</summary>
    public ServerCertificate Current => Volatile.Read(ref _current);

    /// <summary>The TLS server options for one new connection: the current certificate, TLS 1.2 or 1.3.</summary>
    public SslServerAuthenticationOptions ConnectionOptions()
    {
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = Current.Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        };
        if (_requestClientCertificate)
        {
            // Asked of everyone, required of no one: hosts and tenants connect without one. Any certificate is
            // accepted at the TLS layer (the peer still proves it holds the key); /admin/v1 then checks the chain
            // against exactly the admin client CA and answers 401/403 with a code instead of a dropped handshake.
            options.ClientCertificateRequired = true;
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }

        return options;
    }

    /// <summary>Re-reads the files now; swaps the certificate if they changed and load. Returns whether it swapped.</summary>
    public bool CheckNow()
    {
        lock (_reloadLock)
        {
            byte[] digest = ServerCertificate.DigestOf(_settings);
            if (digest.AsSpan().SequenceEqual(_lastSeenDigest))
            {
                return false;
            }

            _lastSeenDigest = digest;
            try
            {
                var loaded = ServerCertificate.Load(_settings, _time);
                Volatile.Write(ref _current, loaded);
                // The previous certificate is not disposed: connections being set up may still use its context.
                LogRotated(_logger, loaded.Leaf.Subject, loaded.Leaf.Thumbprint, loaded.Leaf.NotAfter.ToUniversalTime());
                return true;
            }
            catch (Exception ex)
            {
                // Runs on a timer thread: whatever a new file does, it must not take the serving certificate (or the
                // process) down. Load reports bad files as configuration errors; anything else is logged the same way.
                LogRefused(_logger, Current.Leaf.Thumbprint, ex is HgsConfigurationException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}");
                return false;
            }
        }
    }

    public void Dispose() => _timer.Dispose();

    [LoggerMessage(EventId = 2200, Level = LogLevel.Information, Message = "TLS: serving certificate {Subject} (SHA-1 {Thumbprint}, valid until {NotAfter:O})")]
    private static partial void LogServing(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Information, Message = "TLS: certificate files changed; new connections get {Subject} (SHA-1 {Thumbprint}, valid until {NotAfter:O})")]
    private static partial void LogRotated(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Error, Message = "TLS: the changed certificate files were refused; still serving {Thumbprint}: {Problem}")]
    private static partial void LogRefused(ILogger logger, string thumbprint, string problem);
}
