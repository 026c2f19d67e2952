using System.Security.Cryptography;
using OpenHgs.Crypto.Cluster.Tests.Support;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Crypto.Software;

namespace OpenHgs.Crypto.Cluster.Tests;

/// <summary>The <c>cluster:</c> URI: repeated percent-encoded members, validation naming the field, and opening through a registry.</summary>
public sealed class ClusterConfigurationTests(SoftwareKeySet keys) : IClassFixture<SoftwareKeySet>
{
    private const string MemberA = "pkcs11:token=A?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:PIN_A";
    private const string MemberB = "pkcs11:token=B;serial=1234?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:PIN_B";

    private readonly ClusterKeyStoreProvider _provider = new([new SoftwareKeyStoreProvider(), new Pkcs11KeyStoreProvider()]);

    [Fact]
    public void Members_are_repeated_percent_encoded_key_store_uris_in_order()
    {
        KeyStoreUri uri = KeyStoreUri.Create("cluster", [], [new("member", MemberA), new("member", MemberB), new("retry-initial-ms", "500"), new("member-concurrency", "1")]);

        // Percent-encoding keeps the members' own '?', ';', '&' and '=' out of the cluster URI's structure.
        Assert.Equal(1, uri.Text.Count(c => c == '?'));
        (IReadOnlyList<KeyStoreUri> members, ClusterOptions options) = _provider.Parse(KeyStoreUri.Parse(uri.Text));
        Assert.Equal([MemberA, MemberB], members.Select(m => m.Text).ToArray());
        Assert.Equal("B", members[1].Get("token"));
        Assert.Equal("1234", members[1].Get("serial"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.RetryInitial);
        Assert.Equal(ClusterOptions.Default.RetryMaximum, options.RetryMaximum);
        Assert.Equal(1, options.MemberConcurrency);
    }

    [Fact]
    public void Only_member_and_module_env_may_repeat_in_any_key_store_uri()
    {
        Assert.Equal(["A=1", "B=2"], KeyStoreUri.Parse("x:?module-env=A=1&module-env=B=2").GetAll("module-env").ToArray());
        var ex = Assert.Throws<KeyStoreConfigurationException>(() => KeyStoreUri.Parse("pkcs11:token=A;token=B?module-path=/x&pin-source=env:P"));
        Assert.Equal("token", ex.Field);
        ex = Assert.Throws<KeyStoreConfigurationException>(() => KeyStoreUri.Parse("cluster:?member=software%3A&retry-max-ms=1&retry-max-ms=2"));
        Assert.Equal("retry-max-ms", ex.Field);
        Assert.Equal(["a", "b"], KeyStoreUri.Parse("x:?member=a&member=b").GetAll("member").ToArray());
    }

    [Theory]
    [InlineData("cluster:", "member", "at least one member")]
    [InlineData("cluster:?member=nonsense", "member", "member 1 is not a key store URI")]
    [InlineData("cluster:?member=cluster%3A%3Fmember%3Dsoftware%253A", "member", "do not nest")]
    [InlineData("cluster:?member=tpm%3Ax%3D1", "member", "unknown key store scheme 'tpm'")]
    [InlineData("cluster:?member=software%3A&member=software%3A", "member", "repeats an earlier member")]
    [InlineData("cluster:?member=software%3A&members=2", "members", "unknown cluster key store URI attribute")]
    [InlineData("cluster:member=software%3A", "member", "unknown cluster key store URI attribute")]
    [InlineData("cluster:?member=software%3A&retry-initial-ms=fast", "retry-initial-ms", "not a number of milliseconds")]
    [InlineData("cluster:?member=software%3A&retry-initial-ms=5000&retry-max-ms=1000", "retry-max-ms", "at least retry-initial-ms")]
    [InlineData("cluster:?member=software%3A&member-concurrency=0", "member-concurrency", "between 1 and 1024")]
    public void Bad_cluster_uris_are_configuration_errors_naming_the_field(string text, string field, string message)
    {
        var ex = Assert.Throws<KeyStoreConfigurationException>(() => _provider.Parse(KeyStoreUri.Parse(text)));
        Assert.Equal(field, ex.Field);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pkcs11_members_loading_one_module_file_with_different_module_env_are_refused_before_anything_opens()
    {
        // /usr/lib/softhsm/libsofthsm2.so is a link on Debian: the same file under two names is still one dlopen instance.
        const string linked = "/usr/lib/softhsm/libsofthsm2.so";
        string realFile = File.ResolveLinkTarget(linked, returnFinalTarget: true)?.FullName ?? linked;
        string first = $"pkcs11:token=A?module-path={linked}&module-env=SOFTHSM2_CONF%3D%2Fetc%2Fm1.conf&pin-source=env:PIN_A";
        string second = $"pkcs11:token=A?module-path={realFile}&module-env=SOFTHSM2_CONF%3D%2Fetc%2Fm2.conf&pin-source=env:PIN_A";
        KeyStoreUri uri = KeyStoreUri.Create("cluster", [], [new("member", first), new("member", second)]);

        var ex = Assert.Throws<KeyStoreConfigurationException>(() => _provider.Parse(KeyStoreUri.Parse(uri.Text)));

        Assert.Equal("module-env", ex.Field);
        Assert.Contains("used by m1 with module-env SOFTHSM2_CONF, and m2 asks for module-env SOFTHSM2_CONF with other values", ex.Message, StringComparison.Ordinal);
        Assert.Contains("needs its own copy of the module file", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("m2.conf", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("m1.conf", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_registry_opens_a_cluster_of_any_backend_and_reports_its_members()
    {
        string uri = KeyStoreUri.Create("cluster", [], [new("member", keys.NewCopyUri()), new("member", keys.NewCopyUri())]).Text;
        var registry = new KeyStoreRegistry([new SoftwareKeyStoreProvider(), _provider]);

        using IKeyStore store = registry.Open(uri, keys.Context);

        Assert.Equal("cluster", store.Kind);
        byte[] hash = SHA256.HashData("registry"u8);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(keys.VerifyEc(hash, store.SignHash(new SignHashRequest(SoftwareKeySet.EcSign, hash, SignatureScheme.EcdsaSha256))));
        }

        var health = Assert.IsAssignableFrom<IKeyStoreHealth>(store);
        Assert.Equal(["m1", "m2"], health.Members.Select(m => m.Name).ToArray());
        Assert.All(health.Members, m => Assert.Equal(2, m.Operations));
        Assert.All(health.Members, m => Assert.StartsWith("software:path=", m.Location, StringComparison.Ordinal));
        Assert.All(health.Members, m => Assert.StartsWith("up (2 operations", m.Describe(), StringComparison.Ordinal));
    }

    [Fact]
    public void A_member_provider_list_cannot_contain_the_cluster_itself()
    {
        Assert.Throws<ArgumentException>(() => new ClusterKeyStoreProvider([_provider]));
    }
}
