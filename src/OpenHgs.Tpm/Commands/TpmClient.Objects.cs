using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Commands;

public sealed partial class TpmClient
{
    /// <summary>
    /// TPM2_CreatePrimary under <paramref name="hierarchy"/> (<see cref="TpmHandles.Endorsement"/>,
    /// <see cref="TpmHandles.Owner"/>, …) with the empty hierarchy password and an empty userAuth.
    /// The returned object must be disposed (flushed).
    /// </summary>
    public TpmObject CreatePrimary(uint hierarchy, TpmtPublic template, TpmAuthorization? hierarchyAuth = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        var r = Execute(TpmCommandCode.CreatePrimary, [hierarchy], [hierarchyAuth ?? TpmAuthorization.EmptyPassword], w =>
        {
            WriteEmptySensitiveCreate(w);
            w.WriteSized(template.ToBytes());
            w.WriteSized([]);        // outsideInfo
            w.WriteUInt32(0);        // creationPCR: empty TPML_PCR_SELECTION
        }, 1, out var handles);
        var handle = handles[0];
        try
        {
            var outPublic = TpmtPublic.ReadSized(r);
            r.ReadSized("creationData");
            r.ReadSized("creationHash", 64);
            SkipTicket(r);
            var name = r.ReadSized("name", 66);
            r.EnsureEnd("CreatePrimary response");
            return new TpmObject(this, handle, outPublic, name);
        }
        catch
        {
            TryFlush(handle);
            throw;
        }
    }

    /// <summary>TPM2_Create: creates an ordinary key under <paramref name="parent"/> (empty userAuth).</summary>
    public CreatedKey Create(TpmObject parent, TpmtPublic template, TpmAuthorization? parentAuth = null)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(template);
        var r = Execute(TpmCommandCode.Create, [parent.Handle], [parentAuth ?? TpmAuthorization.EmptyPassword], w =>
        {
            WriteEmptySensitiveCreate(w);
            w.WriteSized(template.ToBytes());
            w.WriteSized([]);
            w.WriteUInt32(0);
        });
        var outPrivate = r.ReadSized("outPrivate");
        var outPublic = TpmtPublic.ReadSized(r);
        r.ReadSized("creationData");
        r.ReadSized("creationHash", 64);
        SkipTicket(r);
        r.EnsureEnd("Create response");
        return new CreatedKey(outPrivate, outPublic);
    }

    /// <summary>TPM2_Load of a key created by <see cref="Create"/>. The returned object must be disposed.</summary>
    public TpmObject Load(TpmObject parent, CreatedKey key, TpmAuthorization? parentAuth = null)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(key);
        var r = Execute(TpmCommandCode.Load, [parent.Handle], [parentAuth ?? TpmAuthorization.EmptyPassword], w =>
        {
            w.WriteSized(key.Private);
            w.WriteSized(key.Public.ToBytes());
        }, 1, out var handles);
        try
        {
            var name = r.ReadSized("name", 66);
            r.EnsureEnd("Load response");
            return new TpmObject(this, handles[0], key.Public, name);
        }
        catch
        {
            TryFlush(handles[0]);
            throw;
        }
    }

    /// <summary>
    /// TPM2_ReadPublic: the public area, Name and Qualified Name of a loaded or persistent object. The Qualified
    /// Name is what TPMS_ATTEST.qualifiedSigner carries for a key signing a quote or certification.
    /// </summary>
    public TpmPublicInfo ReadPublic(uint handle)
    {
        var r = Execute(TpmCommandCode.ReadPublic, [handle], [], null);
        var outPublic = TpmtPublic.ReadSized(r);
        var name = r.ReadSized("name", 66);
        var qualifiedName = r.ReadSized("qualifiedName", 66);
        r.EnsureEnd("ReadPublic response");
        return new TpmPublicInfo(outPublic, name, qualifiedName);
    }

    /// <summary>
    /// TPM2_EvictControl under the owner hierarchy: persists <paramref name="transient"/> at
    /// <paramref name="persistentHandle"/> (0x81000000..0x817FFFFF).
    /// </summary>
    public void EvictControl(TpmObject transient, uint persistentHandle, TpmAuthorization? ownerAuth = null)
    {
        ArgumentNullException.ThrowIfNull(transient);
        Execute(TpmCommandCode.EvictControl, [TpmHandles.Owner, transient.Handle], [ownerAuth ?? TpmAuthorization.EmptyPassword],
            w => w.WriteUInt32(persistentHandle));
    }

    /// <summary>TPM2_EvictControl removing the persistent object at <paramref name="persistentHandle"/>.</summary>
    public void EvictPersistent(uint persistentHandle, TpmAuthorization? ownerAuth = null) =>
        Execute(TpmCommandCode.EvictControl, [TpmHandles.Owner, persistentHandle], [ownerAuth ?? TpmAuthorization.EmptyPassword],
            w => w.WriteUInt32(persistentHandle));

    /// <summary>Wraps a persistent handle (e.g. an EK at 0x81010001) as a <see cref="TpmObject"/> (never flushed).</summary>
    public TpmObject OpenPersistent(uint handle)
    {
        var info = ReadPublic(handle);
        return new TpmObject(this, handle, info.Public, info.Name);
    }

    /// <summary>
    /// TPM2_RSA_Decrypt with RSA-OAEP (<paramref name="oaepHash"/>) and <paramref name="label"/> (no trailing NUL
    /// is added; the TPM adds one when the label lacks it). Use <see cref="TpmAlgorithm.RsaEs"/> for PKCS#1 v1.5.
    /// </summary>
    public byte[] RsaDecrypt(TpmObject key, ReadOnlySpan<byte> cipherText, TpmAlgorithm oaepHash = TpmAlgorithm.Sha256,
        ReadOnlySpan<byte> label = default, TpmAuthorization? keyAuth = null, TpmAlgorithm scheme = TpmAlgorithm.Oaep)
    {
        ArgumentNullException.ThrowIfNull(key);
        var ct = cipherText.ToArray();
        var lb = label.ToArray();
        var r = Execute(TpmCommandCode.RsaDecrypt, [key.Handle], [keyAuth ?? TpmAuthorization.EmptyPassword], w =>
        {
            w.WriteSized(ct);
            w.WriteAlgorithm(scheme);
            if (scheme == TpmAlgorithm.Oaep)
            {
                w.WriteAlgorithm(oaepHash);
            }
            w.WriteSized(lb);
        });
        var message = r.ReadSized("message", 512);
        r.EnsureEnd("RSA_Decrypt response");
        return message;
    }

    private static void WriteEmptySensitiveCreate(TpmWriter w) =>
        w.WriteSized(inner => inner.WriteSized([]).WriteSized([]));

    private static void SkipTicket(TpmReader r)
    {
        r.ReadUInt16("ticket tag");
        r.ReadUInt32("ticket hierarchy");
        r.ReadSized("ticket digest", 64);
    }
}
