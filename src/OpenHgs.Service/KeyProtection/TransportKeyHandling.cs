using OpenHgs.Crypto;

namespace OpenHgs.Service.KeyProtection;

/// <summary>Where a key release may handle a VM's transport key (<c>release-key-handling</c> in <c>DATA/hgs.json</c>).</summary>
public enum ReleaseKeyHandling
{
    /// <summary><c>hsm-only</c>: only HSM-native re-wrap; a release that would need the key in service memory is refused.</summary>
    HsmOnly,

    /// <summary><c>allow-memory</c>: HSM-native where the store can, else unwrapped in memory (and zeroed); for development.</summary>
    AllowMemory,
}

/// <summary>The configuration names of <see cref="ReleaseKeyHandling"/>.</summary>
public static class ReleaseKeyHandlingNames
{
    public const string HsmOnly = "hsm-only";
    public const string AllowMemory = "allow-memory";

    public static string ToName(this ReleaseKeyHandling mode) => mode switch
    {
        ReleaseKeyHandling.HsmOnly => HsmOnly,
        ReleaseKeyHandling.AllowMemory => AllowMemory,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown release key handling"),
    };

    /// <summary>The mode named <paramref name="name"/> (exactly <c>hsm-only</c> or <c>allow-memory</c>), or null.</summary>
    public static ReleaseKeyHandling? TryParse(string? name) => name switch
    {
        HsmOnly => ReleaseKeyHandling.HsmOnly,
        AllowMemory => ReleaseKeyHandling.AllowMemory,
        _ => null,
    };
}

/// <summary>
/// How key release handles transport keys on this node: the configured <see cref="Mode"/> and the key store's
/// HSM-native re-wrap capability, or its explicit absence (<see cref="Rewrapper"/> null). Decided once at start.
/// </summary>
/// <remarks>
/// Security contract: with <see cref="ReleaseKeyHandling.HsmOnly"/> a VM's transport key never exists in this process;
/// a release the store cannot re-wrap natively, or whose native re-wrap the store refuses, is refused (never falls
/// back to memory). The mode comes from the node's configuration file or command line, never from the database, so a
/// database writer cannot downgrade it.
/// </remarks>
public sealed class TransportKeyHandling
{
    public TransportKeyHandling(ReleaseKeyHandling mode, ITransportKeyRewrapper? rewrapper)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown release key handling");
        }

        Mode = mode;
        Rewrapper = rewrapper;
    }

    public ReleaseKeyHandling Mode { get; }

    /// <summary>The key store's in-HSM re-wrap, or null when it has none.</summary>
    public ITransportKeyRewrapper? Rewrapper { get; }

    /// <summary>Whether the store can re-wrap natively with any pair of OAEP hashes.</summary>
    public bool CanRewrapAtAll =>
        Rewrapper is { } rewrapper && Enum.GetValues<OaepHash>().Any(unwrap => Enum.GetValues<OaepHash>().Any(target => rewrapper.CanRewrap(unwrap, target)));

    /// <summary>The OAEP hashes for an in-store re-wrap of a key wrapped with <paramref name="unwrap"/> (SHA-256 to the host when the store can), or null.</summary>
    public (OaepHash Unwrap, OaepHash Target)? NativeHashes(OaepHash unwrap) =>
        Rewrapper is not { } rewrapper ? null
            : rewrapper.CanRewrap(unwrap, OaepHash.Sha256) ? (unwrap, OaepHash.Sha256)
            : rewrapper.CanRewrap(unwrap, OaepHash.Sha1) ? (unwrap, OaepHash.Sha1)
            : null;

    /// <summary>For <c>/healthz</c> and logs, e.g. <c>hsm-only (hsm-native re-wrap)</c>.</summary>
    public string Describe() => (Mode, CanRewrapAtAll) switch
    {
        (_, true) => $"{Mode.ToName()} (hsm-native re-wrap)",
        (ReleaseKeyHandling.HsmOnly, false) => $"{Mode.ToName()} (the key store cannot re-wrap: every release is refused)",
        _ => $"{Mode.ToName()} (in memory: the key store cannot re-wrap)",
    };
}
