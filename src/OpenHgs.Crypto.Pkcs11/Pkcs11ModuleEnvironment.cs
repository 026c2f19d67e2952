using System.Text.RegularExpressions;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// The environment variables a PKCS#11 module is loaded with: the <c>module-env=NAME=VALUE</c> attributes of a
/// <c>pkcs11:</c> URI, e.g. <c>P11_KIT_SERVER_ADDRESS</c> for p11-kit-client, which reads it once, when the module loads.
/// </summary>
/// <remarks>
/// Security contract: values may be secrets. Nothing here puts a value into a message, a log line or
/// <see cref="ToString"/>: they name variables only. Values go to <see cref="NativeEnvironment"/> and nowhere else.
/// </remarks>
internal sealed partial class Pkcs11ModuleEnvironment
{
    public const string Field = KeyStoreUri.ModuleEnvironmentAttribute;

    private Pkcs11ModuleEnvironment(IReadOnlyList<KeyValuePair<string, string>> variables) => Variables = variables;

    /// <summary>No variables: the module loads with the process environment as it is.</summary>
    public static Pkcs11ModuleEnvironment None { get; } = new([]);

    /// <summary>Name and value of each variable, in the order given; names are unique.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Variables { get; }

    public bool IsEmpty => Variables.Count == 0;

    /// <summary>
    /// Validates <c>module-env</c> values (each <c>NAME=VALUE</c>). Every problem is a
    /// <see cref="KeyStoreConfigurationException"/> for the field <c>module-env</c> that names the variable, never its value.
    /// </summary>
    /// <param name="items">The <c>module-env</c> values, percent-decoded.</param>
    /// <param name="store">Which store the values belong to (e.g. a cluster member's name), to start messages with; or null.</param>
    public static Pkcs11ModuleEnvironment Parse(IReadOnlyList<string> items, string? store = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        string prefix = store is null ? string.Empty : $"{store}: ";
        var variables = new List<KeyValuePair<string, string>>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            string item = items[i];
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                throw new KeyStoreConfigurationException(Field,
                    $"{prefix}value {i + 1} is not NAME=VALUE (no '=' after the variable name; percent-encode the value's own '&' and '%').");
            }

            string name = item[..eq];
            string value = item[(eq + 1)..];
            if (!VariableName().IsMatch(name))
            {
                throw new KeyStoreConfigurationException(Field, name.Length == 0
                    ? $"{prefix}value {i + 1} has no variable name before '='."
                    : $"{prefix}'{name}' is not an environment variable name (letters, digits and '_', not starting with a digit).");
            }

            if (value.Contains('\0', StringComparison.Ordinal))
            {
                throw new KeyStoreConfigurationException(Field, $"{prefix}the value of {name} contains a NUL character, which no environment variable can hold.");
            }

            if (variables.Any(v => string.Equals(v.Key, name, StringComparison.Ordinal)))
            {
                throw new KeyStoreConfigurationException(Field, $"{prefix}{name} is set twice.");
            }

            variables.Add(new(name, value));
        }

        return variables.Count == 0 ? None : new Pkcs11ModuleEnvironment(variables);
    }

    /// <summary>Same variables with the same values, in any order.</summary>
    public bool SameAs(Pkcs11ModuleEnvironment other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Variables.Count == other.Variables.Count
            && Variables.All(v => other.Variables.Any(o => string.Equals(o.Key, v.Key, StringComparison.Ordinal) && string.Equals(o.Value, v.Value, StringComparison.Ordinal)));
    }

    /// <summary>The variable names, for messages and logs: <c>module-env P11_KIT_SERVER_ADDRESS</c>, or <c>no module-env</c>.</summary>
    public override string ToString() => IsEmpty ? "no module-env" : $"module-env {string.Join(", ", Variables.Select(v => v.Key))}";

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex VariableName();
}
