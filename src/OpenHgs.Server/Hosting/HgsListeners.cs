using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Tls;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// Binds Kestrel to the parsed <c>--urls</c> itself (instead of <c>UseUrls</c>), so that every https listener takes
/// its certificate per connection from the <see cref="ReloadingServerCertificate"/>: a rotation reaches the next
/// connection without a restart.
/// </summary>
internal static class HgsListeners
{
    public static void Configure(KestrelServerOptions kestrel, IReadOnlyList<ListenUrl> urls, Func<ReloadingServerCertificate> certificate)
    {
        foreach (var url in urls)
        {
            Action<ListenOptions> configure = url.Https
                ? listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    var source = certificate();
                    listen.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(source.ConnectionOptions()),
                    });
                }
                : _ => { };
            if (url.IsLocalhost)
            {
                kestrel.ListenLocalhost(url.Port, configure);
            }
            else if (url.Address is { } address)
            {
                kestrel.Listen(address, url.Port, configure);
            }
            else
            {
                kestrel.ListenAnyIP(url.Port, configure);
            }
        }
    }
}
