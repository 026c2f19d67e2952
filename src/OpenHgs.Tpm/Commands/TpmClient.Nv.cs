namespace OpenHgs.Tpm.Commands;

public sealed partial class TpmClient
{
    private const int NvChunkSize = 512;

    /// <summary>TPM2_NV_ReadPublic.</summary>
    public NvPublic NvReadPublic(uint index)
    {
        var r = Execute(TpmCommandCode.NvReadPublic, [index], [], null);
        var inner = r.ReadSizedStructure("TPM2B_NV_PUBLIC", out _);
        var pub = new NvPublic(inner.ReadUInt32("nvIndex"), inner.ReadAlgorithm("nameAlg"), inner.ReadUInt32("attributes"),
            inner.ReadSized("authPolicy", 64), inner.ReadUInt16("dataSize"));
        inner.EnsureEnd("TPMS_NV_PUBLIC");
        r.ReadSized("nvName", 66);
        r.EnsureEnd("NV_ReadPublic response");
        return pub;
    }

    /// <summary>
    /// Reads a whole NV index in chunks (TPM2_NV_Read). <paramref name="authHandle"/> defaults to the owner
    /// hierarchy (the EK certificate index is OWNERREAD on real TPMs and swtpm) with the empty password.
    /// </summary>
    public byte[] NvRead(uint index, uint authHandle = TpmHandles.Owner, TpmAuthorization? auth = null)
    {
        var size = NvReadPublic(index).DataSize;
        var data = new byte[size];
        for (var offset = 0; offset < size;)
        {
            var chunk = (ushort)Math.Min(NvChunkSize, size - offset);
            var at = (ushort)offset;
            var r = Execute(TpmCommandCode.NvRead, [authHandle, index], [auth ?? TpmAuthorization.EmptyPassword],
                w => w.WriteUInt16(chunk).WriteUInt16(at));
            var bytes = r.ReadSized("NV data", NvChunkSize);
            r.EnsureEnd("NV_Read response");
            if (bytes.Length == 0)
            {
                throw new InvalidOperationException($"NV index 0x{index:x8} returned no data at offset {offset}.");
            }
            bytes.CopyTo(data, offset);
            offset += bytes.Length;
        }
        return data;
    }

    /// <summary>The RSA-2048 EK certificate (DER) from NV 0x01C00002, or null when the index is not defined.</summary>
    public byte[]? ReadEkCertificate(uint index = TpmHandles.EkCertificateRsa2048)
    {
        try
        {
            return NvRead(index);
        }
        catch (TpmException e) when (e.Code is TpmRc.Handle or TpmRc.NvUninitialized)
        {
            return null;
        }
    }
}
