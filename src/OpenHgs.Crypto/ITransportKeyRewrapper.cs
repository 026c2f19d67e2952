namespace OpenHgs.Crypto;

/// <summary>
/// Optional key store capability: re-wrap a wrapped secret (a VM's transport key) to another public key
/// without the secret ever existing outside the store (PKCS#11: C_UnwrapKey into a session-only sensitive
/// secret, C_Sign with HMAC-SHA256 to check its MAC, C_WrapKey to an imported session public key, destroy).
/// </summary>
/// <remarks>
/// Security contract: the plaintext secret never crosses this interface; callers see only the MAC it computes
/// (which is public in the key protector) and the re-wrapped bytes. Session objects are destroyed before the
/// call returns, whatever happens.
/// </remarks>
public interface ITransportKeyRewrapper
{
    /// <summary>True when the store can unwrap with <paramref name="unwrap"/> and wrap with <paramref name="target"/> (probed, not assumed).</summary>
    bool CanRewrap(OaepHash unwrap, OaepHash target);

    /// <summary>Unwraps, MACs and re-wraps inside the store; see <see cref="RewrapRequest"/>.</summary>
    RewrapResult Rewrap(RewrapRequest request);
}

/// <summary>
/// Unwrap <paramref name="WrappedSecret"/> with the store key <paramref name="Label"/> (RSA-OAEP with
/// <paramref name="UnwrapHash"/>), compute HMAC-SHA256 keyed by the secret over <paramref name="MacData"/>,
/// and wrap the secret to <paramref name="TargetPublicKey"/> (DER SPKI, RSA) with OAEP <paramref name="TargetHash"/>.
/// The secret's length is not checked by the store (tokens need not report CKA_VALUE_LEN for unwrapped secrets);
/// the MAC binds the secret to its creator, and the receiver checks the length it expects.
/// </summary>
public sealed record RewrapRequest(string Label, byte[] WrappedSecret, OaepHash UnwrapHash, byte[] MacData, byte[] TargetPublicKey, OaepHash TargetHash);

/// <summary>The MAC the store computed with the secret, and the secret wrapped to the target key.</summary>
public sealed record RewrapResult(byte[] Mac, byte[] Rewrapped);
