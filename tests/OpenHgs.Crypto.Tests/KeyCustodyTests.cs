using OpenHgs.Crypto.Software;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Tests;

/// <summary>
/// <see cref="IKeyStore.DescribeCustody"/> on a real SoftHSM2 token: what the token reports about keys OpenHGS generated,
/// and about keys another tool (pkcs11-tool) made extractable under an OpenHGS label.
/// </summary>
public sealed class KeyCustodyTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    [Theory]
    [InlineData(Pkcs11StoreFixture.RsaDecryptLabel, KeyOperations.Decrypt | KeyOperations.Unwrap)]
    [InlineData(Pkcs11StoreFixture.RsaSignLabel, KeyOperations.Sign)]
    [InlineData(Pkcs11StoreFixture.EcSignLabel, KeyOperations.Sign)]
    public void A_key_pair_openhgs_generated_is_reported_sensitive_never_extractable_and_local_with_only_its_operations(string label, KeyOperations operations)
    {
        var copy = Assert.Single(fixture.Store.DescribeCustody(label));
        Assert.Equal((label, KeyCustodyKind.Token, null), (copy.Label, copy.Kind, copy.Problem));
        Assert.Contains(fixture.Token.TokenLabel, copy.Holder, StringComparison.Ordinal);
        Assert.Equal(
            new TokenKeyAttributes(Token: true, Private: true, Sensitive: true, AlwaysSensitive: true, Extractable: false, NeverExtractable: true,
                Local: true, Modifiable: false, operations),
            copy.Attributes);
    }

    [Fact]
    public void A_mac_key_is_reported_as_a_sign_and_verify_token_secret()
    {
        fixture.Store.CreateMacKey("custody-mac");
        var copy = Assert.Single(fixture.Store.DescribeCustody("custody-mac"));
        Assert.Equal(KeyCustodyKind.Token, copy.Kind);
        Assert.Equal((true, false, true, true), (copy.Attributes!.Sensitive, copy.Attributes.Extractable, copy.Attributes.NeverExtractable, copy.Attributes.Local));
        Assert.Equal(KeyOperations.Sign | KeyOperations.Verify, copy.Attributes.Operations);
    }

    [Fact]
    public void A_label_the_token_holds_nothing_under_is_missing()
    {
        var copy = Assert.Single(fixture.Store.DescribeCustody("custody-none"));
        Assert.Equal(KeyCustodyKind.Missing, copy.Kind);
        Assert.Null(copy.Attributes);
    }

    [Fact]
    public void A_key_another_tool_made_extractable_is_reported_as_the_token_says_and_a_second_object_under_the_label_too()
    {
        // With --extractable the token would export the key wrapped under another; it was generated there, so it is local.
        fixture.Token.RunPkcs11Tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "custody-outside", "--usage-sign", "--extractable");
        var outside = Assert.Single(fixture.Store.DescribeCustody("custody-outside")).Attributes!;
        Assert.Equal((true, false, true, true), (outside.Extractable, outside.NeverExtractable, outside.Local, outside.Token));

        fixture.Store.CreateKey(new CreateKeyRequest("custody-twice", KeyAlgorithm.EcP256, KeyUsage.Sign));
        fixture.Token.RunPkcs11Tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "custody-twice", "--usage-sign", "--extractable");
        var copies = fixture.Store.DescribeCustody("custody-twice");
        Assert.Equal(2, copies.Count);
        Assert.Equal([false, true], copies.Select(c => c.Attributes!.Extractable!.Value).Order());
    }

    [Fact]
    public void The_software_store_reports_software_custody_for_a_key_pair_or_mac_key_and_missing_otherwise()
    {
        string directory = Directory.CreateTempSubdirectory("openhgs-custody-").FullName;
        try
        {
            using var store = (SoftwareKeyStore)new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse("software:path=keystore?key-file=keystore.key"),
                new KeyStoreOpenContext(directory, Production: false));
            store.CreateKey(new CreateKeyRequest("soft-sign", KeyAlgorithm.EcP256, KeyUsage.Sign));
            store.CreateMacKey("soft-mac");
            Assert.Equal(KeyCustodyKind.Software, Assert.Single(store.DescribeCustody("soft-sign")).Kind);
            Assert.Equal(KeyCustodyKind.Software, Assert.Single(store.DescribeCustody("soft-mac")).Kind);
            Assert.Equal(KeyCustodyKind.Missing, Assert.Single(store.DescribeCustody("soft-none")).Kind);
            Assert.Contains(directory, store.DescribeCustody("soft-sign")[0].Holder, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
