namespace OpenHgs.Crypto;

/// <summary>The store cannot answer (device removed, token absent, session unrecoverable). Callers fail closed.</summary>
/// <param name="reason">A stable code for why, where the store has one (e.g. a sealed key that does not belong to its record).</param>
public sealed class KeyStoreUnavailableException(string message, Exception? inner = null, string? reason = null) : Exception(message, inner)
{
    /// <summary>A stable code for why the store cannot answer, or null.</summary>
    public string? Reason { get; } = reason;
}

/// <summary>The store answered, but holds no key with that label.</summary>
public sealed class KeyNotFoundInStoreException(string label)
    : Exception($"The key store has no key labelled '{label}'.")
{
    public string Label { get; } = label;
}

/// <summary>The store's configuration is wrong; <see cref="Field"/> names what to fix.</summary>
public sealed class KeyStoreConfigurationException(string field, string message)
    : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}

/// <summary>The store refused an operation the key or token does not allow (wrong usage, unsupported mechanism).</summary>
public sealed class KeyStoreOperationException(string message, Exception? inner = null) : Exception(message, inner);
