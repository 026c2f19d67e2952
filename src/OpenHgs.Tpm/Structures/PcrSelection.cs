using OpenHgs.Tpm.Marshalling;

namespace OpenHgs.Tpm.Structures;

/// <summary>One TPMS_PCR_SELECTION: a bank and the PCRs selected in it.</summary>
/// <param name="Hash">The bank.</param>
/// <param name="Pcrs">Selected PCR indices, ascending, each 0..(8 × select size − 1).</param>
public sealed record PcrSelection(TpmAlgorithm Hash, IReadOnlyList<int> Pcrs)
{
    /// <summary>Most banks accepted in a TPML_PCR_SELECTION.</summary>
    public const int MaxBanks = 16;

    /// <summary>Largest sizeofSelect accepted (TPM_PCR_SELECT_MAX is 3 for 24 PCRs; 4 allows 32).</summary>
    public const int MaxSelectBytes = 4;

    /// <summary>Selects <paramref name="pcrs"/> in <paramref name="hash"/>, sorted and de-duplicated.</summary>
    public static PcrSelection Create(TpmAlgorithm hash, IEnumerable<int> pcrs)
    {
        ArgumentNullException.ThrowIfNull(pcrs);
        var sorted = pcrs.Distinct().Order().ToArray();
        if (sorted.Any(p => p < 0 || p >= MaxSelectBytes * 8))
        {
            throw new ArgumentOutOfRangeException(nameof(pcrs), "PCR indices must be 0..31.");
        }
        return new PcrSelection(hash, sorted);
    }

    /// <summary>Writes a TPML_PCR_SELECTION (sizeofSelect at least 3, as TPMs require).</summary>
    public static void WriteList(TpmWriter writer, IReadOnlyList<PcrSelection> selections)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(selections);
        writer.WriteUInt32((uint)selections.Count);
        foreach (var s in selections)
        {
            var size = Math.Max(3, s.Pcrs.Count == 0 ? 3 : (s.Pcrs.Max() / 8) + 1);
            var bits = new byte[size];
            foreach (var pcr in s.Pcrs)
            {
                bits[pcr / 8] |= (byte)(1 << (pcr % 8));
            }
            writer.WriteAlgorithm(s.Hash).WriteByte((byte)size).Write(bits);
        }
    }

    /// <summary>Reads a TPML_PCR_SELECTION.</summary>
    public static IReadOnlyList<PcrSelection> ReadList(TpmReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var count = reader.ReadCount("TPML_PCR_SELECTION count", MaxBanks);
        var list = new List<PcrSelection>((int)count);
        for (var i = 0; i < count; i++)
        {
            var hash = reader.ReadAlgorithm("PCR selection hash");
            var sizeOffset = reader.AbsoluteOffset;
            var size = reader.ReadByte("sizeofSelect");
            if (size > MaxSelectBytes)
            {
                throw new TpmFormatException(TpmFormatError.SizeTooLarge, sizeOffset, $"sizeofSelect {size} > {MaxSelectBytes}");
            }
            var bits = reader.ReadSpan(size, "pcrSelect");
            var pcrs = new List<int>();
            for (var p = 0; p < size * 8; p++)
            {
                if ((bits[p / 8] & (1 << (p % 8))) != 0)
                {
                    pcrs.Add(p);
                }
            }
            list.Add(new PcrSelection(hash, pcrs));
        }
        return list;
    }

    /// <summary>Value equality over the selected PCRs (records compare lists by reference).</summary>
    public bool SameAs(PcrSelection other) => other is not null && Hash == other.Hash && Pcrs.SequenceEqual(other.Pcrs);
}
