namespace OpenHgs.Crypto;

/// <summary>
/// Optional capability of a key store made of several members (an HSM cluster): the state of each member, for
/// <c>/healthz</c> and diagnostics.
/// </summary>
/// <remarks>
/// Security contract: statuses carry member names, the member's key store URI (which never holds a PIN: PINs are
/// named by a source) and exception messages of the key store layer, which name operations, labels and return
/// codes only. They never carry PINs, key material or plaintext, so they may be shown to unauthenticated
/// health probes.
/// </remarks>
public interface IKeyStoreHealth
{
    /// <summary>A consistent-enough snapshot of every member, in configuration order.</summary>
    IReadOnlyList<KeyStoreMemberStatus> Members { get; }
}

/// <summary>Whether a member takes operations.</summary>
public enum KeyStoreMemberState
{
    /// <summary>The member answers and receives its share of the load.</summary>
    Up,

    /// <summary>The member failed; it gets no operations until a retry probe succeeds (circuit open).</summary>
    Down,
}

/// <summary>One member of a clustered key store.</summary>
/// <param name="Name">Short name, e.g. <c>m1</c> (position in the configuration).</param>
/// <param name="Location">The member's key store URI (no secrets).</param>
/// <param name="State">Up or down.</param>
/// <param name="LastError">Why it last went down or failed a retry; null if it never failed.</param>
/// <param name="Failures">How often it went down since the store was opened.</param>
/// <param name="NextRetry">When it is probed again while down; null while up.</param>
/// <param name="Operations">Operations it completed since the store was opened.</param>
public sealed record KeyStoreMemberStatus(
    string Name,
    string Location,
    KeyStoreMemberState State,
    string? LastError,
    long Failures,
    DateTimeOffset? NextRetry,
    long Operations)
{
    /// <summary>One line for health reports: <c>up (1234 operations)</c> or <c>down: ERROR; retry at T</c>.</summary>
    public string Describe() => State == KeyStoreMemberState.Up
        ? $"up ({Operations} operations, {Failures} failures)"
        : $"down: {LastError ?? "not opened"}; retry at {NextRetry:O}";
}
