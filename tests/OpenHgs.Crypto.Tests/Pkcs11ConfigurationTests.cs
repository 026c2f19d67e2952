using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Tests;

/// <summary>Key store URIs: every mistake is reported with the field to fix, and never with the PIN.</summary>
public sealed class Pkcs11ConfigurationTests(SoftHsmToken token) : IClassFixture<SoftHsmToken>
{
    private readonly Pkcs11KeyStoreProvider _provider = new();

    [Fact]
    public void The_fixture_uri_opens_the_token_through_the_registry()
    {
        var registry = new KeyStoreRegistry([new Pkcs11KeyStoreProvider()]);
        using IKeyStore store = registry.Open(token.KeyStoreUri, token.CreateOpenContext());
        Assert.Equal("pkcs11", store.Kind);
        Assert.StartsWith($"pkcs11:token={token.TokenLabel}?module-path={token.ModulePath}&pin-source=env:", token.KeyStoreUri, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_can_be_selected_by_slot_id()
    {
        // Keep the first store open: SoftHSM2 numbers a token's slot afresh each time the module is initialised, and
        // the module is finalised with its last store, so the id is only meaningful while the module stays loaded.
        using Pkcs11KeyStore byLabel = token.OpenKeyStore();
        ulong slotId = byLabel.Slot.SlotId;
        using Pkcs11KeyStore bySlot = Open($"pkcs11:slot-id={slotId}?module-path={token.ModulePath}&pin-source=env:{token.PinEnvironmentVariable}");
        Assert.Equal(slotId, bySlot.Slot.SlotId);
        Assert.Contains($"slot {slotId}", bySlot.TokenDescription, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_token_is_reported_as_token()
    {
        AssertField("token", $"pkcs11:?module-path={token.ModulePath}&pin-source=env:{token.PinEnvironmentVariable}", "token=LABEL");
    }

    [Fact]
    public void Unknown_token_label_is_reported_as_token_with_the_tokens_present()
    {
        var error = AssertField("token", $"pkcs11:token=no-such-token?module-path={token.ModulePath}&pin-source=env:{token.PinEnvironmentVariable}", "no token matches");
        Assert.Contains($"'{token.TokenLabel}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_numeric_slot_id_is_reported_as_slot_id()
    {
        AssertField("slot-id", $"pkcs11:slot-id=first?module-path={token.ModulePath}&pin-source=env:{token.PinEnvironmentVariable}", "not a slot number");
    }

    [Fact]
    public void Missing_module_path_is_reported_as_module_path()
    {
        AssertField("module-path", $"pkcs11:token={token.TokenLabel}?pin-source=env:{token.PinEnvironmentVariable}", "needs 'module-path='");
    }

    [Fact]
    public void Relative_module_path_is_reported_as_module_path()
    {
        AssertField("module-path", $"pkcs11:token={token.TokenLabel}?module-path=libsofthsm2.so&pin-source=env:{token.PinEnvironmentVariable}", "absolute path");
    }

    [Fact]
    public void Nonexistent_module_is_reported_as_module_path()
    {
        AssertField("module-path", $"pkcs11:token={token.TokenLabel}?module-path=/nonexistent/libpkcs11.so&pin-source=env:{token.PinEnvironmentVariable}", "does not exist");
    }

    [Fact]
    public void A_file_that_is_not_a_pkcs11_module_is_reported_as_module_path()
    {
        string notALibrary = Path.Combine(Path.GetTempPath(), $"openhgs-not-a-module-{Guid.NewGuid():N}.so");
        File.WriteAllText(notALibrary, "not an ELF file");
        try
        {
            AssertField("module-path", $"pkcs11:token={token.TokenLabel}?module-path={notALibrary}&pin-source=env:{token.PinEnvironmentVariable}", "could not be loaded");
        }
        finally
        {
            File.Delete(notALibrary);
        }
    }

    [Fact]
    public void Missing_pin_source_is_reported_as_pin_source()
    {
        AssertField("pin-source", $"pkcs11:token={token.TokenLabel}?module-path={token.ModulePath}", "needs 'pin-source='");
    }

    [Fact]
    public void Unset_pin_variable_is_reported_as_pin_source()
    {
        const string unset = "OPENHGS_TEST_PIN_THAT_IS_NOT_SET";
        Assert.Null(Environment.GetEnvironmentVariable(unset));
        AssertField("pin-source", $"pkcs11:token={token.TokenLabel}?module-path={token.ModulePath}&pin-source=env:{unset}", $"'{unset}' is not set");
    }

    [Fact]
    public void Wrong_pin_is_reported_as_pin_source_without_the_pin()
    {
        const string variable = "OPENHGS_TEST_WRONG_PIN";
        const string wrongPin = "wrong-pin-4711";
        var context = new KeyStoreOpenContext(Path.GetTempPath(), Production: false)
        {
            GetEnvironmentVariable = name => name == variable ? wrongPin : null,
        };

        var error = Assert.Throws<KeyStoreConfigurationException>(() => _provider.Open(
            KeyStoreUri.Parse($"pkcs11:token={token.TokenLabel}?module-path={token.ModulePath}&pin-source=env:{variable}"), context));

        Assert.Equal("pin-source", error.Field);
        Assert.Contains("CKR_PIN_INCORRECT", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongPin, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Pin_value_in_the_uri_is_refused()
    {
        AssertField("pin-value", $"pkcs11:token={token.TokenLabel}?module-path={token.ModulePath}&pin-value=1234", "never written");
    }

    [Fact]
    public void A_misspelt_attribute_is_reported_by_name()
    {
        AssertField("modul-path", $"pkcs11:token={token.TokenLabel}?modul-path={token.ModulePath}&pin-source=env:{token.PinEnvironmentVariable}", "unknown");
    }

    [Fact]
    public void Module_env_values_are_parsed_in_order_and_percent_decoded()
    {
        string uri = KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", token.TokenLabel)],
        [
            new("module-path", token.ModulePath),
            new("module-env", "P11_KIT_SERVER_ADDRESS=unix:path=/run/hsm m1/p11.sock&x=%y"),
            new("module-env", "_EMPTY1="),
            new("pin-source", $"env:{token.PinEnvironmentVariable}"),
        ]).Text;

        Pkcs11StoreLocation location = Pkcs11StoreLocation.Parse(KeyStoreUri.Parse(uri));

        Assert.Equal(
            new KeyValuePair<string, string>[] { new("P11_KIT_SERVER_ADDRESS", "unix:path=/run/hsm m1/p11.sock&x=%y"), new("_EMPTY1", string.Empty) },
            location.ModuleEnvironment.Variables);
        Assert.Equal("module-env P11_KIT_SERVER_ADDRESS, _EMPTY1", location.ModuleEnvironment.ToString());
        Assert.Empty(Pkcs11StoreLocation.Parse(KeyStoreUri.Parse(token.KeyStoreUri)).ModuleEnvironment.Variables);
    }

    [Theory]
    [InlineData("module-env=NO_EQUALS_SIGN", "value 1 is not NAME=VALUE")]
    [InlineData("module-env==s3cr3t-value", "value 1 has no variable name")]
    [InlineData("module-env=1ST=s3cr3t-value", "'1ST' is not an environment variable name")]
    [InlineData("module-env=HSM-ADDRESS=s3cr3t-value", "'HSM-ADDRESS' is not an environment variable name")]
    [InlineData("module-env=HSM%20ADDRESS=s3cr3t-value", "'HSM ADDRESS' is not an environment variable name")]
    [InlineData("module-env=HSM_ADDRESS%0A=s3cr3t-value", "is not an environment variable name")]
    [InlineData("module-env=A=s3cr3t-value%00", "the value of A contains a NUL character")]
    [InlineData("module-env=A=s3cr3t-value&module-env=A=s3cr3t-value", "A is set twice")]
    public void Malformed_module_env_is_reported_as_module_env_without_the_value(string attribute, string messagePart)
    {
        var error = AssertField("module-env", $"pkcs11:token={token.TokenLabel}?module-path={token.ModulePath}&{attribute}&pin-source=env:{token.PinEnvironmentVariable}", messagePart);
        Assert.DoesNotContain("s3cr3t-value", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Module_env_in_the_path_part_is_refused()
    {
        AssertField("module-env", $"pkcs11:token={token.TokenLabel};module-env=A=1?module-path={token.ModulePath}&pin-source=env:{token.PinEnvironmentVariable}", "query part");
    }

    [Fact]
    public void Key_store_uris_show_module_env_names_but_never_values_also_inside_cluster_members()
    {
        const string secret = "unix:path=/run/s3cr3t.sock";
        KeyStoreUri member = KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", "HGS")],
            [new("module-path", "/opt/hsm/m1/client.so"), new("module-env", $"HSM_ADDRESS={secret}"), new("pin-source", "env:PIN")]);
        KeyStoreUri cluster = KeyStoreUri.Create("cluster", [], [new("member", member.Text), new("member", "pkcs11:token=HGS?module-path=/opt/hsm/m2/client.so&pin-source=env:PIN")]);

        Assert.Contains(secret, Uri.UnescapeDataString(member.Text), StringComparison.Ordinal);
        Assert.Equal("pkcs11:token=HGS?module-path=/opt/hsm/m1/client.so&module-env=HSM_ADDRESS=***&pin-source=env:PIN", member.ToString());
        Assert.DoesNotContain("s3cr3t", cluster.ToString(), StringComparison.Ordinal);
        Assert.Contains("HSM_ADDRESS", Uri.UnescapeDataString(cluster.ToString()), StringComparison.Ordinal);
        Assert.Contains("module-path=/opt/hsm/m2/client.so", Uri.UnescapeDataString(cluster.ToString()), StringComparison.Ordinal);
        Assert.Equal(token.KeyStoreUri, KeyStoreUri.Parse(token.KeyStoreUri).ToString());

        var missing = Assert.Throws<KeyStoreConfigurationException>(() => KeyStoreUri.Parse($"pkcs11:token=HGS?module-env=HSM_ADDRESS={secret}").Require("pin-source"));
        Assert.DoesNotContain("s3cr3t", missing.Message, StringComparison.Ordinal);
    }

    private Pkcs11KeyStore Open(string uri) => _provider.OpenStore(KeyStoreUri.Parse(uri), token.CreateOpenContext());

    private KeyStoreConfigurationException AssertField(string field, string uri, string messagePart)
    {
        var error = Assert.Throws<KeyStoreConfigurationException>(() => Open(uri).Dispose());
        Assert.Equal(field, error.Field);
        Assert.Contains(messagePart, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Pin, error.ToString(), StringComparison.Ordinal);
        return error;
    }
}
