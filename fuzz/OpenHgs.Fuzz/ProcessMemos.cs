using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Fuzz;

/// <summary>
/// The process-wide memos of product code that the targets reach. <see cref="FuzzTarget.Execute"/> empties them before
/// and after every input: AFL runs every input in one process, and a memo hit takes a shorter path than the miss before
/// it, so with memos kept the same input would cover different code on its second run (unstable feedback) and the code
/// behind a hit would be fuzzed once only.
/// </summary>
/// <remarks>
/// A static memo added to product code must be listed here: FuzzMemoTests finds the static memo fields of the
/// assemblies the harness loads and fails for one missing.
/// </remarks>
public static class ProcessMemos
{
    /// <summary>Entries held now, per memo (keyed by declaring type and member).</summary>
    public static IReadOnlyDictionary<string, int> Held => new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["PublicKeyPool.Shared"] = PublicKeyPool.Shared.Count,
        ["CertificateChecks.Certificates"] = CertificateChecks.CertificatesHeld,
        ["CertificateChecks.VerifiedSignatures"] = CertificateChecks.VerifiedSignaturesHeld,
    };

    /// <summary>Empties every memo. Thread-safe like the memos' own starting over when full.</summary>
    public static void Clear()
    {
        CertificateChecks.ClearMemos();
        PublicKeyPool.Shared.Clear();
    }
}
