using System.Globalization;
using System.Net;

namespace OpenHgs.Server.Configuration;

/// <summary>
/// One <c>--urls</c> entry, parsed the way Kestrel binds it: an IP address, <c>localhost</c> (both loopbacks), or
/// any other host name, <c>*</c> or <c>+</c> (every interface).
/// </summary>
public sealed record ListenUrl(string Text, bool Https, string Host, int Port)
{
    /// <summary>The address to bind, or null for <c>localhost</c> and any-address hosts.</summary>
    public IPAddress? Address => IPAddress.TryParse(Host, out var address) ? address : null;

    public bool IsLocalhost => string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase);

    /// <summary>Only this machine can connect: a loopback address or <c>localhost</c>.</summary>
    public bool IsLoopback => IsLocalhost || (Address is { } address && IPAddress.IsLoopback(address));

    public static ListenUrl Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        bool https;
        string rest;
        if (text.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            https = true;
            rest = text["https://".Length..];
        }
        else if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            https = false;
            rest = text["http://".Length..];
        }
        else
        {
            throw Invalid(text, "it is not an http:// or https:// URL");
        }

        rest = rest.TrimEnd('/');
        if (rest.Contains('/', StringComparison.Ordinal))
        {
            throw Invalid(text, "a listen URL has no path");
        }

        string host;
        string? port;
        if (rest.StartsWith('['))
        {
            int close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw Invalid(text, "the IPv6 address has no closing ']'");
            }

            host = rest[1..close];
            port = close + 1 < rest.Length ? (rest[close + 1] == ':' ? rest[(close + 2)..] : throw Invalid(text, "unexpected text after the IPv6 address")) : null;
        }
        else
        {
            int colon = rest.LastIndexOf(':');
            host = colon < 0 ? rest : rest[..colon];
            port = colon < 0 ? null : rest[(colon + 1)..];
        }

        if (host.Length == 0)
        {
            throw Invalid(text, "it names no host");
        }

        int number = https ? 443 : 80;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number > 65535))
        {
            throw Invalid(text, $"'{port}' is not a port number");
        }

        return new ListenUrl(text, https, host, number);
    }

    /// <summary>
    /// Parses every URL and checks them against the TLS settings: https needs a server certificate, a certificate
    /// needs an https listener, and <paramref name="production"/> refuses plain HTTP beyond loopback.
    /// </summary>
    public static IReadOnlyList<ListenUrl> ParseAll(IEnumerable<string> urls, TlsSettings? tls, bool production)
    {
        ArgumentNullException.ThrowIfNull(urls);
        var parsed = urls.Select(Parse).ToList();
        if (parsed.Count == 0)
        {
            throw new HgsConfigurationException("urls", "--urls names no listen URL.");
        }

        tls?.Validate();
        bool certificate = tls?.HasCertificate == true;
        foreach (var url in parsed)
        {
            if (url.Https && !certificate)
            {
                throw new HgsConfigurationException("urls", $"'{url.Text}' is https but no server certificate is configured: pass --tls-cert FILE --tls-key FILE or --tls-pfx FILE (or store them with 'server init').");
            }

            if (production && !url.Https && !url.IsLoopback)
            {
                throw new HgsConfigurationException("urls",
                    $"--production refuses the plain-HTTP listener '{url.Text}' on a non-loopback address: the admin credential, guardian metadata and "
                    + "released keys would cross the network in clear. Listen on https:// with a server certificate, or bind http:// to 127.0.0.1.");
            }
        }

        if (certificate && !parsed.Any(u => u.Https))
        {
            throw new HgsConfigurationException("urls", "a server certificate is configured but no --urls entry is https://; listen on https:// (plain http:// may be added for loopback).");
        }

        return parsed;
    }

    private static HgsConfigurationException Invalid(string text, string why) => new("urls", $"the listen URL '{text}' is not usable: {why}.");
}
