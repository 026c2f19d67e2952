using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// An attribute template that stays alive (and its native memory allocated) until it is disposed, i.e. for the
/// whole PKCS#11 call that reads it.
/// </summary>
/// <remarks>
/// Pkcs11Interop's <see cref="IObjectAttribute"/> owns unmanaged memory that its finalizer frees. Its high-level
/// <see cref="ISession"/> copies only the pointers into the CK_ATTRIBUTE array it passes to the module, and uses the
/// list no longer. A template list built inline for the call is therefore garbage while the module still reads it:
/// a collection during the call (frequent under concurrent load) frees the values, and the token reads freed, reused
/// memory. SoftHSM2 then refused valid re-wraps with CKR_ATTRIBUTE_VALUE_INVALID or CKR_KEY_UNEXTRACTABLE. Use
/// <c>using var template = new Pkcs11Template(...)</c> so the values are freed, deterministically, after the call.
/// </remarks>
internal sealed class Pkcs11Template(List<IObjectAttribute> attributes) : IDisposable
{
    /// <summary>The attributes, for the session call.</summary>
    public List<IObjectAttribute> Attributes { get; } = attributes;

    public void Dispose()
    {
        foreach (IObjectAttribute attribute in Attributes)
        {
            attribute.Dispose();
        }
    }
}
