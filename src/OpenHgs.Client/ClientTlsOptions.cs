using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Protocol.Tls;

namespace OpenHgs.Client;

/// <summary>
/// How a client checks the service's TLS certificate and which certificate it presents. Security contract: with
/// <see cref="CaCertificateFile"/> the server certificate must chain to exactly the CA certificate(s) in that file
/// (custom root trust, the system roots are not consulted); without it, to the system roots. The host name must
/// match either way, and no option accepts any certificate. <see cref="ClientCertificateFile"/> and
/// <see cref="ClientKeyFile"/> (PEM) are the admin's mutual TLS identity.
/// </summary>
public sealed record ClientTlsOptions(string? CaCertificateFile = null, string? ClientCertificateFile = null, string? ClientKeyFile = null)
{
    /// <summary>System trust, no client certificate.</summary>
    public static ClientTlsOptions Default { get; } = new();

    /// <summary>
    /// A handler that enforces these options. Files are read now: a missing or unreadable one is an
    /// <see cref="HgsClientException"/> (<c>CaCertificateInvalid</c>, <c>ClientCertificateInvalid</c>).
    /// </summary>
    public SocketsHttpHandler CreateHandler(TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        X509Certificate2Collection? roots = null;
        if (CaCertificateFile is not null)
        {
            roots = CustomRootChain.LoadTrustFile(CaCertificateFile, out string? problem);
            if (problem is not null)
            {
                throw new HgsClientException("CaCertificateInvalid", "--ca-cert " + problem);
            }
        }

        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Validate(certificate, chain, errors, roots, clock);
        if (LoadClientCertificate() is { } client)
        {
            handler.SslOptions.ClientCertificates = [client];
            // Always offer it: the service asks without naming acceptable CAs, and decides itself on admin routes.
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => client;
        }

        return handler;
    }

    private X509Certificate2? LoadClientCertificate()
    {
        if (ClientCertificateFile is null && ClientKeyFile is null)
        {
            return null;
        }

        if (ClientCertificateFile is null || ClientKeyFile is null)
        {
            throw new HgsClientException("ClientCertificateInvalid", ClientCertificateFile is null ? "--client-key needs --client-cert." : "--client-cert needs --client-key (its PEM private key).");
        }

        try
        {
            return X509Certificate2.CreateFromPemFile(ClientCertificateFile, ClientKeyFile);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new HgsClientException("ClientCertificateInvalid", $"the client certificate '{ClientCertificateFile}' with key '{ClientKeyFile}' cannot be loaded: {ex.Message}");
        }
    }

    private bool Validate(X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors, X509Certificate2Collection? roots, TimeProvider time)
    {
        if (presented is not X509Certificate2 certificate)
        {
            throw new ServerCertificateRejectedException("the server presented no certificate");
        }

        string subject = certificate.Subject;
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            throw new ServerCertificateRejectedException($"its certificate '{subject}' is not issued to the host name in the URL (RemoteCertificateNameMismatch)");
        }

        if (roots is null)
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            string statuses = chain is null ? errors.ToString() : string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}"));
            throw new ServerCertificateRejectedException($"its certificate '{subject}' does not chain to a CA this machine trusts ({statuses}); pass --ca-cert FILE (or HGS_CACERT) to trust the fabric's CA");
        }

        // The server's intermediates, as it sent them, help build the path; only the named CA anchors it.
        string? problem = CustomRootChain.Problem(certificate, roots, CustomRootChain.ServerAuthentication, time.GetUtcNow(), chain?.ChainPolicy.ExtraStore);
        return problem is null
            ? true
            : throw new ServerCertificateRejectedException($"its certificate '{subject}' does not chain to the CA in {CaCertificateFile} ({problem})");
    }
}

/// <summary>The service's TLS certificate was refused; the message says why. Raised inside the TLS handshake.</summary>
public sealed class ServerCertificateRejectedException(string message) : System.Security.Authentication.AuthenticationException(message);
