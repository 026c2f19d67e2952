using System.Globalization;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Which module and token a <c>pkcs11:</c> key store URI names, validated field by field.
/// </summary>
/// <remarks>
/// Form (RFC 7512 with OpenHGS query attributes):
/// <c>pkcs11:token=LABEL;serial=S;slot-id=N?module-path=/abs/lib.so&amp;pin-source=env:VAR[&amp;module-env=NAME=VALUE]...</c>.
/// <c>token</c> or <c>slot-id</c> is required; <c>serial</c> narrows further. <c>module-env</c> (repeatable, query
/// only) sets an environment variable while the module loads (see <see cref="Pkcs11ModuleEnvironment"/>); the value
/// is percent-decoded, so encode its own <c>&amp;</c> and <c>%</c>. Unknown attributes are refused so that a typo
/// (<c>modul-path</c>) is reported instead of silently ignored.
/// </remarks>
internal sealed record Pkcs11StoreLocation(string ModulePath, string? TokenLabel, ulong? SlotId, string? TokenSerial, string PinSource,
    Pkcs11ModuleEnvironment ModuleEnvironment)
{
    private static readonly string[] KnownAttributes = ["token", "serial", "slot-id", "module-path", "pin-source", Pkcs11ModuleEnvironment.Field];

    /// <summary>Validates the URI; every problem is a <see cref="KeyStoreConfigurationException"/> naming its field.</summary>
    public static Pkcs11StoreLocation Parse(KeyStoreUri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!string.Equals(uri.Scheme, Pkcs11KeyStoreProvider.SchemeName, StringComparison.Ordinal))
        {
            throw new KeyStoreConfigurationException("keyStore", $"'{uri}' is not a pkcs11: URI.");
        }

        foreach (string name in uri.PathAttributes.Keys.Concat(uri.QueryAttributes.Keys))
        {
            if (!KnownAttributes.Contains(name, StringComparer.Ordinal))
            {
                throw new KeyStoreConfigurationException(name, $"unknown pkcs11 key store URI attribute (known: {string.Join(", ", KnownAttributes)}).");
            }
        }

        if (uri.PathAttributes.ContainsKey(Pkcs11ModuleEnvironment.Field))
        {
            throw new KeyStoreConfigurationException(Pkcs11ModuleEnvironment.Field, "belongs in the query part, after '?' (it says how to load the module, not which token).");
        }

        Pkcs11ModuleEnvironment environment = Pkcs11ModuleEnvironment.Parse(uri.GetAll(Pkcs11ModuleEnvironment.Field));
        string modulePath = uri.Require("module-path");
        if (!Path.IsPathFullyQualified(modulePath))
        {
            throw new KeyStoreConfigurationException("module-path", $"'{modulePath}' must be an absolute path; a bare name would be searched for by the dynamic loader.");
        }

        if (!File.Exists(modulePath))
        {
            throw new KeyStoreConfigurationException("module-path", $"the PKCS#11 module '{modulePath}' does not exist.");
        }

        string? token = NonEmpty(uri, "token");
        string? serial = NonEmpty(uri, "serial");
        ulong? slotId = null;
        if (NonEmpty(uri, "slot-id") is { } slotText)
        {
            slotId = ulong.TryParse(slotText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong parsed)
                ? parsed
                : throw new KeyStoreConfigurationException("slot-id", $"'{slotText}' is not a slot number.");
        }

        if (token is null && slotId is null)
        {
            throw new KeyStoreConfigurationException("token", $"the key store URI '{uri}' needs 'token=LABEL' (or 'slot-id=N') to select the token.");
        }

        return new Pkcs11StoreLocation(modulePath, token, slotId, serial, uri.Require("pin-source"), environment);
    }

    /// <summary>How the token is selected, for messages (never includes the PIN).</summary>
    public string Describe() =>
        string.Join(", ", new[]
        {
            TokenLabel is null ? null : $"token '{TokenLabel}'",
            TokenSerial is null ? null : $"serial '{TokenSerial}'",
            SlotId is null ? null : $"slot {SlotId}",
        }.Where(s => s is not null)) + $" in '{ModulePath}'";

    private static string? NonEmpty(KeyStoreUri uri, string name) => uri.Get(name) switch
    {
        null => null,
        { Length: 0 } => throw new KeyStoreConfigurationException(name, "is empty."),
        var value => value,
    };
}
