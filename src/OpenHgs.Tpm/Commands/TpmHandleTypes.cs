using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Commands;

/// <summary>
/// A loaded TPM object. Disposing flushes it when it is transient (a raw swtpm socket has no resource manager,
/// so every transient object must be flushed). Persistent handles are never flushed.
/// </summary>
public sealed class TpmObject : IDisposable
{
    private readonly TpmClient _client;
    private bool _disposed;

    internal TpmObject(TpmClient client, uint handle, TpmtPublic publicArea, byte[] name)
    {
        _client = client;
        Handle = handle;
        Public = publicArea;
        Name = name;
    }

    /// <summary>The TPM handle.</summary>
    public uint Handle { get; }

    /// <summary>The public area.</summary>
    public TpmtPublic Public { get; }

    /// <summary>The object's Name as reported by the TPM.</summary>
    public byte[] Name { get; }

    /// <summary>Flushes the object if it is transient; errors are ignored (the object may already be gone).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (TpmHandles.NeedsFlush(Handle))
        {
            _client.TryFlush(Handle);
        }
    }
}

/// <summary>An authorisation session; disposing flushes it.</summary>
public sealed class TpmSession : IDisposable
{
    private readonly TpmClient _client;
    private bool _disposed;

    internal TpmSession(TpmClient client, uint handle, byte[] nonceTpm)
    {
        _client = client;
        Handle = handle;
        NonceTpm = nonceTpm;
    }

    /// <summary>The session handle.</summary>
    public uint Handle { get; }

    /// <summary>The TPM's nonce from TPM2_StartAuthSession.</summary>
    public byte[] NonceTpm { get; }

    /// <summary>Flushes the session; errors are ignored (a session may already be gone).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _client.TryFlush(Handle);
    }
}

/// <summary>Result of TPM2_Create: the wrapped private blob and the public area, loadable with TPM2_Load.</summary>
public sealed record CreatedKey(byte[] Private, TpmtPublic Public);

/// <summary>Result of TPM2_Quote or TPM2_Certify: the exact signed TPMS_ATTEST bytes, parsed, and the signature.</summary>
public sealed record TpmAttestation(byte[] AttestBytes, TpmsAttest Attest, TpmtSignature Signature);

/// <summary>NV index public area (TPMS_NV_PUBLIC).</summary>
public sealed record NvPublic(uint Index, TpmAlgorithm NameAlg, uint Attributes, byte[] AuthPolicy, ushort DataSize);

/// <summary>TPM2_MakeCredential output / TPM2_ActivateCredential input.</summary>
/// <param name="CredentialBlob">TPM2B_ID_OBJECT content (integrityHMAC ‖ encIdentity), without the size prefix.</param>
/// <param name="Secret">TPM2B_ENCRYPTED_SECRET content (the OAEP-encrypted seed), without the size prefix.</param>
public sealed record IdObject(byte[] CredentialBlob, byte[] Secret);

/// <summary>TPM2_ReadPublic output.</summary>
public sealed record TpmPublicInfo(TpmtPublic Public, byte[] Name, byte[] QualifiedName);
