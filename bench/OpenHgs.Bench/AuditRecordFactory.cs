using OpenHgs.Service.Audit;
using OpenHgs.Storage;

namespace OpenHgs.Bench;

/// <summary>
/// Realistic audit records for the scale run: alternately a passed host-key attestation and a successful key release,
/// with the same fields (and sizes) the service writes, built by the service's own <see cref="AuditRecord.Create"/>.
/// </summary>
public sealed class AuditRecordFactory(int seed, int hosts)
{
    private readonly Random _random = new(seed);
    private readonly byte[] _buffer = new byte[32];

    public AuditEvent Next(long index)
    {
        string host = $"scale-host-{index % hosts:D6}";
        return index % 2 == 0
            ? AuditRecord.Create(AuditEvents.Attestation, AuditOutcomes.Success, host, null,
                ("mode", "host-key"), ("status", "Passed"), ("evidenceDigest", Hex()), ("policyVersion", "1"),
                ("signerKey", "att-5eed0001"), ("certificateSha256", Hex()))
            : AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Success, host, null,
                ("keyProtectorSha256", Hex()), ("healthCertificateSha256", Hex()), ("healthCertificateSerial", Hex()[..32]),
                ("evidenceDigest", Hex()), ("policyVersion", "1"), ("wrappingId", Hex()[..16]),
                ("kpsEncryptionKey", "enc-5eed0001"), ("kpsSigningKey", "sig-5eed0001"), ("egressKeyProtectorSha256", Hex()));
    }

    private string Hex()
    {
        _random.NextBytes(_buffer);
        return Convert.ToHexStringLower(_buffer);
    }
}
