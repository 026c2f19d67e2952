using System.Buffers.Binary;

namespace OpenHgs.Tpm.Structures;

/// <summary>Name and Qualified Name computations (TPM 2.0 Part 1 §16).</summary>
public static class TpmNames
{
    /// <summary>
    /// The Qualified Name of a hierarchy (its handle as 4 big-endian bytes), the start of every QN chain.
    /// </summary>
    public static byte[] HierarchyQualifiedName(uint hierarchyHandle)
    {
        var qn = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(qn, hierarchyHandle);
        return qn;
    }

    /// <summary>
    /// QN(object) = nameAlg ‖ H_nameAlg(QN(parent) ‖ Name(object)), where nameAlg is the object's name algorithm
    /// (the first two bytes of <paramref name="name"/>).
    /// </summary>
    public static byte[] QualifiedName(ReadOnlySpan<byte> parentQualifiedName, ReadOnlySpan<byte> name)
    {
        if (name.Length < 2)
        {
            throw new ArgumentException("A Name starts with its 2-byte algorithm.", nameof(name));
        }
        var alg = (TpmAlgorithm)BinaryPrimitives.ReadUInt16BigEndian(name);
        var digest = alg.Hash(parentQualifiedName, name);
        var qn = new byte[2 + digest.Length];
        name[..2].CopyTo(qn);
        digest.CopyTo(qn, 2);
        return qn;
    }
}
