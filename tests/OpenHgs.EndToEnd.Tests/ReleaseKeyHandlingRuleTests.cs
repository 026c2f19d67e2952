using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.KeyProtection;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// The start-up rule of release-key-handling, on a real software store (which cannot re-wrap). In production the
/// software store is refused before this rule is reached, and SoftHSM2 always re-wraps, so the production refusal is
/// checked here, at the function <c>hgs server run</c> and <c>init</c> call, rather than through a process.
/// </summary>
public sealed class ReleaseKeyHandlingRuleTests : IDisposable
{
    private readonly TempFolder _data = new("openhgs-rewrap-rule-");
    private readonly IKeyStore _software;
    private readonly HgsConfiguration _configuration = new(1, SoftwareKeyStoreProvider.DefaultUri, "sqlite:hgs.db");

    public ReleaseKeyHandlingRuleTests() =>
        _software = new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(_data.Path, Production: false));

    [Fact]
    public void Production_with_hsm_only_and_a_store_that_cannot_rewrap_refuses_to_start_naming_the_field()
    {
        var error = Assert.Throws<HgsConfigurationException>(() => HgsRuntime.TransportKeyHandlingFor(_software, _configuration, ReleaseKeyHandling.HsmOnly, production: true));
        Assert.Equal("releaseKeyHandling", error.Field);

        // hsm-only is also production's default, so leaving the setting out does not get around it.
        Assert.Equal(ReleaseKeyHandling.HsmOnly, HgsRuntime.DefaultReleaseKeyHandling(production: true, _software));
        Assert.Equal("releaseKeyHandling", Assert.Throws<HgsConfigurationException>(() => HgsRuntime.TransportKeyHandlingFor(_software, _configuration, null, production: true)).Field);
    }

    [Fact]
    public void Outside_production_hsm_only_starts_and_says_that_every_release_is_refused()
    {
        var handling = HgsRuntime.TransportKeyHandlingFor(_software, _configuration with { ReleaseKeyHandling = "hsm-only" }, null, production: false);
        Assert.Equal(ReleaseKeyHandling.HsmOnly, handling.Mode);
        Assert.Null(handling.Rewrapper);
        Assert.False(handling.CanRewrapAtAll);
        Assert.Equal("hsm-only (the key store cannot re-wrap: every release is refused)", handling.Describe());
    }

    [Fact]
    public void The_command_line_overrides_the_file_and_the_software_store_defaults_to_allow_memory()
    {
        Assert.Equal(ReleaseKeyHandling.AllowMemory, HgsRuntime.DefaultReleaseKeyHandling(production: false, _software));
        Assert.Equal(ReleaseKeyHandling.AllowMemory, HgsRuntime.TransportKeyHandlingFor(_software, _configuration, null, production: false).Mode);
        Assert.Equal(ReleaseKeyHandling.AllowMemory,
            HgsRuntime.TransportKeyHandlingFor(_software, _configuration with { ReleaseKeyHandling = "hsm-only" }, ReleaseKeyHandling.AllowMemory, production: false).Mode);
    }

    public void Dispose()
    {
        _software.Dispose();
        _data.Dispose();
    }
}
