using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Commands;

public sealed partial class TpmClient
{
    /// <summary>
    /// TPM2_PCR_Read of <paramref name="pcrs"/> in <paramref name="bank"/>; loops because a TPM returns at most
    /// 8 digests per call. Returns PCR index → value.
    /// </summary>
    public IReadOnlyDictionary<int, byte[]> PcrRead(TpmAlgorithm bank, IEnumerable<int> pcrs)
    {
        ArgumentNullException.ThrowIfNull(pcrs);
        var pending = pcrs.Distinct().Order().ToList();
        var result = new SortedDictionary<int, byte[]>();
        for (var round = 0; pending.Count > 0 && round < 32; round++)
        {
            var selection = PcrSelection.Create(bank, pending);
            var r = Execute(TpmCommandCode.PcrRead, [], [], w => PcrSelection.WriteList(w, [selection]));
            r.ReadUInt32("pcrUpdateCounter");
            var returned = PcrSelection.ReadList(r);
            var count = r.ReadCount("TPML_DIGEST count", 8);
            var values = new List<byte[]>();
            for (var i = 0; i < count; i++)
            {
                values.Add(r.ReadSized("PCR value", 64));
            }
            r.EnsureEnd("PCR_Read response");
            var indices = returned.Where(s => s.Hash == bank).SelectMany(s => s.Pcrs).ToList();
            if (indices.Count != values.Count || indices.Count == 0)
            {
                break; // bank not allocated or nothing more returned
            }
            for (var i = 0; i < indices.Count; i++)
            {
                result[indices[i]] = values[i];
                pending.Remove(indices[i]);
            }
        }
        return result;
    }

    /// <summary>
    /// The PCR banks this TPM implements and the PCRs allocated in each (TPM2_GetCapability(TPM_CAP_PCRS)); a bank the TPM
    /// implements but has not allocated has no PCRs. Unsigned: the service learns which banks are active from the quote.
    /// </summary>
    public IReadOnlyList<PcrSelection> GetPcrBanks()
    {
        const uint capabilityPcrs = 5;   // TPM_CAP_PCRS
        var r = Execute(TpmCommandCode.GetCapability, [], [], w => w.WriteUInt32(capabilityPcrs).WriteUInt32(0).WriteUInt32(1));
        r.ReadByte("moreData");
        var capability = r.ReadUInt32("capability");
        if (capability != capabilityPcrs)
        {
            throw new TpmFormatException(TpmFormatError.UnsupportedValue, 0, $"GetCapability answered capability 0x{capability:x} for TPM_CAP_PCRS");
        }

        var banks = PcrSelection.ReadList(r);
        r.EnsureEnd("GetCapability(TPM_CAP_PCRS) response");
        return banks;
    }

    /// <summary>TPM2_PCR_Extend of one PCR with one digest per bank (empty-password PCR authorisation).</summary>
    public void PcrExtend(int pcr, IReadOnlyDictionary<TpmAlgorithm, byte[]> digests)
    {
        ArgumentNullException.ThrowIfNull(digests);
        Execute(TpmCommandCode.PcrExtend, [(uint)pcr], [TpmAuthorization.EmptyPassword], w =>
        {
            w.WriteUInt32((uint)digests.Count);
            foreach (var (alg, digest) in digests)
            {
                if (digest.Length != alg.DigestSize())
                {
                    throw new ArgumentException($"{alg.Name()} digest must be {alg.DigestSize()} bytes.", nameof(digests));
                }
                w.WriteAlgorithm(alg).Write(digest);
            }
        });
    }
}
