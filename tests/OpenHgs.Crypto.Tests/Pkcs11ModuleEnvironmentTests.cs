using System.Diagnostics;
using System.Security.Cryptography;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Tests;

/// <summary>
/// <c>module-env</c>: the variables reach the module natively while it loads, are restored afterwards, and one module
/// file cannot be asked for with two different environments in one process.
/// </summary>
[Collection(Pkcs11ModuleLifetimeCollection.Name)]
public sealed class Pkcs11ModuleEnvironmentTests : IDisposable
{
    private const string Secret = "s3cr3t-address";
    private readonly SoftHsmToken _token = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-module-env-").FullName;
    private readonly Pkcs11KeyStoreProvider _provider = new();

    public void Dispose()
    {
        Directory.Delete(_directory, recursive: true);
        _token.Dispose();
    }

    [Fact]
    public void A_module_copy_reads_its_module_env_when_it_loads_and_the_process_environment_is_restored_afterwards()
    {
        // A token that exists only in a SoftHSM2 configuration of its own, which no variable of this process names.
        string configuration = Path.Combine(_directory, "softhsm2.conf");
        string tokens = Path.Combine(_directory, "tokens");
        Directory.CreateDirectory(tokens);
        File.WriteAllText(configuration, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        const string label = "module-env-token";
        string pin = RandomNumberGenerator.GetHexString(16, lowercase: true);
        InitializeToken(configuration, label, pin);

        // A copy of the module: a separate dlopen instance that reads SOFTHSM2_CONF when it initialises.
        string copy = Path.Combine(_directory, "libsofthsm2-copy.so");
        File.Copy(Pkcs11Module.Canonicalize(_token.ModulePath), copy);
        var context = new KeyStoreOpenContext(_directory, Production: false) { GetEnvironmentVariable = name => name == "PIN" ? pin : null };
        string withEnvironment = KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", label)],
            [new("module-path", copy), new("module-env", $"SOFTHSM2_CONF={configuration}"), new("pin-source", "env:PIN")]).Text;
        string withoutEnvironment = KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", label)],
            [new("module-path", copy), new("pin-source", "env:PIN")]).Text;
        string? processValue = NativeEnvironment.Get("SOFTHSM2_CONF");
        Assert.Equal(SoftHsmEnvironment.ConfigurationFile, processValue);

        // Without module-env the copy reads the process's configuration, which has no such token.
        var notFound = Assert.Throws<KeyStoreConfigurationException>(() => _provider.OpenStore(KeyStoreUri.Parse(withoutEnvironment), context).Dispose());
        Assert.Equal("token", notFound.Field);

        StoredKey key;
        using (Pkcs11KeyStore store = _provider.OpenStore(KeyStoreUri.Parse(withEnvironment), context))
        {
            key = store.CreateKey(new CreateKeyRequest("module-env-key", KeyAlgorithm.EcP256, KeyUsage.Sign));
            Assert.Equal(processValue, NativeEnvironment.Get("SOFTHSM2_CONF"));
        }

        // The last lease unloaded the copy; loading it again applies module-env again (as when a cluster member is reopened).
        Assert.Equal(0, Pkcs11Module.LeaseCount(copy));
        using (Pkcs11KeyStore reopened = _provider.OpenStore(KeyStoreUri.Parse(withEnvironment), context))
        {
            Assert.Equal(key.SubjectPublicKeyInfo, Assert.Single(reopened.ListKeys()).SubjectPublicKeyInfo);
        }

        Assert.Equal(processValue, NativeEnvironment.Get("SOFTHSM2_CONF"));
    }

    [Fact]
    public void A_variable_that_was_unset_is_unset_again_after_the_load()
    {
        const string variable = "OPENHGS_TEST_MODULE_ENV_UNSET";
        Assert.Null(NativeEnvironment.Get(variable));
        string seen = NativeEnvironment.RunWith([new(variable, Secret)], () => NativeEnvironment.Get(variable)!);
        Assert.Equal(Secret, seen);
        Assert.Null(NativeEnvironment.Get(variable));
        Assert.Throws<InvalidOperationException>(() => NativeEnvironment.RunWith<int>([new(variable, Secret)], () => throw new InvalidOperationException("load failed")));
        Assert.Null(NativeEnvironment.Get(variable));
    }

    [Fact]
    public void A_loaded_module_refuses_a_store_that_asks_for_another_module_env_and_says_to_copy_the_module()
    {
        using Pkcs11KeyStore plain = _token.OpenKeyStore();
        int leases = Pkcs11Module.LeaseCount(_token.ModulePath);
        string uri = KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", _token.TokenLabel)],
            [new("module-path", _token.ModulePath), new("module-env", $"SOFTHSM2_CONF={Secret}"), new("pin-source", $"env:{_token.PinEnvironmentVariable}")]).Text;

        var error = Assert.Throws<KeyStoreConfigurationException>(() => _provider.OpenStore(KeyStoreUri.Parse(uri), _token.CreateOpenContext()).Dispose());

        Assert.Equal("module-env", error.Field);
        Assert.Contains("no module-env", error.Message, StringComparison.Ordinal);
        Assert.Contains("asks for module-env SOFTHSM2_CONF", error.Message, StringComparison.Ordinal);
        Assert.Contains("own copy of the module file", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.Equal(leases, Pkcs11Module.LeaseCount(_token.ModulePath));
        Assert.Equal("still-usable", plain.CreateKey(new CreateKeyRequest("still-usable", KeyAlgorithm.EcP256, KeyUsage.Sign)).Label);
    }

    [Fact]
    public void Stores_naming_one_module_file_through_links_with_different_module_env_cannot_be_open_together()
    {
        string module = Path.Combine(_directory, "client.so");
        File.WriteAllText(module, "stands in for a PKCS#11 module; the check does not load it");
        string symbolicLink = Path.Combine(_directory, "client-symlink.so");
        File.CreateSymbolicLink(symbolicLink, module);
        string hardLink = Path.Combine(_directory, "client-hardlink.so");
        CreateHardLink(module, hardLink);
        string copy = Path.Combine(_directory, "client-copy.so");
        File.Copy(module, copy);

        foreach (string sameFile in new[] { module, symbolicLink, hardLink })
        {
            var error = Assert.Throws<KeyStoreConfigurationException>(() => _provider.CheckOpenTogether(
                [("m1", Uri(module, $"ADDRESS={Secret}-1")), ("m2", Uri(sameFile, $"ADDRESS={Secret}-2"))]));
            Assert.Equal("module-env", error.Field);
            Assert.Contains("used by m1 with module-env ADDRESS, and m2 asks for module-env ADDRESS with other values", error.Message, StringComparison.Ordinal);
            Assert.Contains("own copy of the module file", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        }

        var withAndWithout = Assert.Throws<KeyStoreConfigurationException>(() => _provider.CheckOpenTogether(
            [("m1", Uri(module)), ("m2", Uri(hardLink, $"ADDRESS={Secret}"))]));
        Assert.Contains("used by m1 with no module-env, and m2 asks for module-env ADDRESS", withAndWithout.Message, StringComparison.Ordinal);

        // A copy is another file (another dlopen instance); the same environment may share one module (two slots).
        _provider.CheckOpenTogether([("m1", Uri(module, $"ADDRESS={Secret}-1")), ("m2", Uri(copy, $"ADDRESS={Secret}-2"))]);
        _provider.CheckOpenTogether([("m1", Uri(module, $"ADDRESS={Secret}")), ("m2", Uri(symbolicLink, $"ADDRESS={Secret}"))]);

        // Malformed module-env is refused up front too, naming the store; a missing module file is left to opening it.
        var malformed = Assert.Throws<KeyStoreConfigurationException>(() => _provider.CheckOpenTogether(
            [("m1", Uri(module)), ("m2", Uri(copy, "NOT-A-NAME=x"))]));
        Assert.StartsWith("module-env: m2: 'NOT-A-NAME'", malformed.Message, StringComparison.Ordinal);
        _provider.CheckOpenTogether([("m1", Uri(module, "A=1")), ("m2", Uri(Path.Combine(_directory, "missing.so"), "A=2"))]);
    }

    private static KeyStoreUri Uri(string modulePath, string? moduleEnvironment = null) =>
        KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", "HGS")],
            moduleEnvironment is null
                ? [new("module-path", modulePath), new("pin-source", "env:PIN")]
                : [new("module-path", modulePath), new("module-env", moduleEnvironment), new("pin-source", "env:PIN")]);

    private static void InitializeToken(string configuration, string label, string pin) =>
        RunTool("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", RandomNumberGenerator.GetHexString(16, lowercase: true)],
            configuration);

    private static void CreateHardLink(string existing, string link) => RunTool("ln", [existing, link], configuration: null);

    private static void RunTool(string tool, string[] arguments, string? configuration)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (configuration is not null)
        {
            start.Environment[SoftHsmEnvironment.ConfigurationVariable] = configuration;
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        _ = output.GetAwaiter().GetResult();
        Assert.True(process.ExitCode == 0, $"{tool} failed: {errors}");
    }
}
