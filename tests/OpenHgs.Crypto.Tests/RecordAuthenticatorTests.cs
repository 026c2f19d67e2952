using System.Security.Cryptography;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Crypto.Software;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Tests;

/// <summary>The MAC-key capability (<see cref="IRecordAuthenticator"/>) on a real SoftHSM2 token and on the software store.</summary>
public sealed class RecordAuthenticatorTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private static readonly byte[] Row = Encoding.UTF8.GetBytes("fabric_keys|att-1|attestation-signer");

    [Fact]
    public void Softhsm_supports_hmac_keys_and_macs_are_stable_per_key_and_data()
    {
        var mac = Assert.IsAssignableFrom<IRecordAuthenticator>(fixture.Store.AsRecordAuthenticator());
        mac.CreateMacKey("mac-stable");
        Assert.True(mac.HasMacKey("mac-stable"));
        Assert.False(mac.HasMacKey("mac-none"));

        byte[] first = mac.ComputeMac("mac-stable", Row);
        Assert.Equal(32, first.Length);
        Assert.Equal(first, mac.ComputeMac("mac-stable", Row));
        Assert.NotEqual(first, mac.ComputeMac("mac-stable", [.. Row, 0]));

        mac.CreateMacKey("mac-other");
        Assert.NotEqual(first, mac.ComputeMac("mac-other", Row));
        Assert.Equal("mac-none", Assert.Throws<KeyNotFoundInStoreException>(() => mac.ComputeMac("mac-none", Row)).Label);
        Assert.Throws<KeyStoreOperationException>(() => mac.CreateMacKey("mac-stable"));
    }

    [Fact]
    public void The_pkcs11_mac_key_is_a_sensitive_never_extractable_sign_only_token_secret()
    {
        fixture.Store.CreateMacKey("mac-attributes");
        var attributes = fixture.Store.Sessions.Execute(session =>
        {
            IObjectHandle handle = Assert.Single(Pkcs11MacKeys.Find(session, "mac-attributes"));
            var values = session.GetAttributeValue(handle,
            [
                CKA.CKA_TOKEN, CKA.CKA_PRIVATE, CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_NEVER_EXTRACTABLE,
                CKA.CKA_SIGN, CKA.CKA_ENCRYPT, CKA.CKA_DECRYPT, CKA.CKA_WRAP, CKA.CKA_DERIVE, CKA.CKA_KEY_TYPE, CKA.CKA_VALUE_LEN,
            ]);
            // The token refuses to reveal the value of a sensitive key.
            var value = session.GetAttributeValue(handle, [CKA.CKA_VALUE])[0];
            return (values, value.CannotBeRead);
        });

        var (v, valueHidden) = attributes;
        Assert.True(v[0].GetValueAsBool(), "CKA_TOKEN");
        Assert.True(v[1].GetValueAsBool(), "CKA_PRIVATE");
        Assert.True(v[2].GetValueAsBool(), "CKA_SENSITIVE");
        Assert.False(v[3].GetValueAsBool(), "CKA_EXTRACTABLE");
        Assert.True(v[4].GetValueAsBool(), "CKA_ALWAYS_SENSITIVE");
        Assert.True(v[5].GetValueAsBool(), "CKA_NEVER_EXTRACTABLE");
        Assert.True(v[6].GetValueAsBool(), "CKA_SIGN");
        Assert.False(v[7].GetValueAsBool(), "CKA_ENCRYPT");
        Assert.False(v[8].GetValueAsBool(), "CKA_DECRYPT");
        Assert.False(v[9].GetValueAsBool(), "CKA_WRAP");
        Assert.False(v[10].GetValueAsBool(), "CKA_DERIVE");
        Assert.Equal((ulong)CKK.CKK_GENERIC_SECRET, v[11].GetValueAsUlong());
        Assert.Equal(32UL, v[12].GetValueAsUlong());
        Assert.True(valueHidden, "CKA_VALUE of the MAC key was readable");
    }

    [Fact]
    public void Pkcs11_tool_sees_the_mac_key_as_sensitive_and_never_extractable()
    {
        fixture.Store.CreateMacKey("mac-tool");
        string listing = fixture.Token.RunPkcs11Tool("--list-objects", "--type", "secrkey");
        int at = listing.IndexOf("label:      mac-tool", StringComparison.Ordinal);
        Assert.True(at >= 0, listing);
        string block = listing[listing.LastIndexOf("Secret Key Object", at, StringComparison.Ordinal)..];
        string access = block.Split('\n').First(l => l.TrimStart().StartsWith("Access:", StringComparison.Ordinal));
        Assert.Contains("never extractable", access, StringComparison.Ordinal);
        Assert.Contains("sensitive", access, StringComparison.Ordinal);
        Assert.DoesNotContain(" extractable,", access.Replace("never extractable", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void The_software_store_seals_its_mac_key_and_reopens_it()
    {
        string directory = Path.Combine(Path.GetTempPath(), "openhgs-mac-" + Guid.NewGuid().ToString("N"));
        try
        {
            var uri = KeyStoreUri.Parse("software:path=keystore?key-file=keystore.key");
            var context = new KeyStoreOpenContext(directory, Production: false);
            byte[] mac;
            using (var store = new SoftwareKeyStoreProvider().Open(uri, context))
            {
                var authenticator = Assert.IsAssignableFrom<IRecordAuthenticator>(store.AsRecordAuthenticator());
                authenticator.CreateMacKey("rows");
                mac = authenticator.ComputeMac("rows", Row);
                Assert.Equal(32, mac.Length);
                Assert.Empty(store.ListKeys());
            }

            // The file holds only the sealed key: no 32-byte run of it is the HMAC key that reproduces the MAC.
            byte[] file = File.ReadAllBytes(Path.Combine(directory, "keystore", "rows.mac.json"));
            for (int i = 0; i + 32 <= file.Length; i++)
            {
                Assert.False(CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(file.AsSpan(i, 32), Row), mac));
            }

            using var reopened = new SoftwareKeyStoreProvider().Open(uri, context);
            Assert.Equal(mac, reopened.AsRecordAuthenticator()!.ComputeMac("rows", Row));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
