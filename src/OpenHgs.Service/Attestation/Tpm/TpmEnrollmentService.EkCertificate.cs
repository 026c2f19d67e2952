using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Storage;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// Attaching an EK certificate to a registered TPM host that has none stored (design change 85): a host registered
/// before migration 10 or with <c>--allow-without-certificate</c> becomes checkable against the CRLs without being
/// registered again (which would need a new AK activation on the host).
/// </summary>
public sealed partial class TpmEnrollmentService
{
    /// <summary>
    /// Stores <paramref name="request"/>'s certificate and validated chain on host <paramref name="name"/>, as strictly
    /// as registration: it must certify the registered EK itself and chain to a registered root through CRLs in force.
    /// A host with a certificate stored is refused (<c>EkCertificateAlreadyStored</c>): replacing one could trade a
    /// revoked certificate for another of the same key. The row, re-sealed, and its record commit together; the record
    /// names the certificate's digest, which the row's history check then requires of the row (<see cref="HostTable.SupersededBy"/>).
    /// </summary>
    public async Task<HostInfo> SetEkCertificateAsync(string name, SetEkCertificateRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        HostRegistry.ValidateName(name);
        byte[] certificate = TpmEvidenceParsing.Bytes(request.EkCertificate, "ekCertificate", MaxEkCertificateBytes);
        var updated = await database.InTransactionAsync(async s =>
        {
            var host = await s.Hosts.FindByNameAsync(name).ConfigureAwait(false)
                ?? throw ServiceException.NotFound("UnknownHost", $"There is no registered host '{name}'.");
            if (host.Mode != AttestationModeNames.Tpm)
            {
                throw ServiceException.BadRequest("HostNotTpm", $"Host '{name}' attests with a host key; only a TPM host has an EK certificate.");
            }

            if (host.EkCertificate is not null)
            {
                throw AlreadyStored(name);
            }

            string previous = HostRegistry.EkCertificateState(host)!;
            var (ek, _) = TpmEvidenceParsing.Public(Convert.ToBase64String(host.PublicKey), "host.ek");
            var validated = await ValidateCertificateAsync(s, certificate, ek).ConfigureAwait(false);
            var record = host with { EkCertificate = certificate, EkChain = EkRevocationPath.Format(validated.Chain) };
            if (!await s.Hosts.SetEkCertificateAsync(record).ConfigureAwait(false))
            {
                throw AlreadyStored(name);   // attached (or re-registered) by another admin since the read
            }

            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostEkCertificateSet, AuditOutcomes.Success, name, null,
                ("mode", AttestationModeNames.Tpm), ("keyThumbprint", record.KeyThumbprint),
                ("ekCertificateSha256", HostTable.EkCertificateDigest(certificate)), ("ekCertificate", validated.Detail), ("previous", previous))).ConfigureAwait(false);
            return record;
        }, cancellationToken).ConfigureAwait(false);
        LogEkCertificateSet(logger, name, updated.KeyThumbprint);
        return HostRegistry.ToInfo(updated);
    }

    private static ServiceException AlreadyStored(string name) =>
        ServiceException.Conflict("EkCertificateAlreadyStored",
            $"Host '{name}' already has an EK certificate stored; to store another, remove the host and register it again ('hgs hosts add-tpm').");

    [LoggerMessage(EventId = 1405, Level = LogLevel.Information, Message = "EK certificate stored for registered TPM host {HostName} (EK {EkThumbprint})")]
    private static partial void LogEkCertificateSet(ILogger logger, string hostName, string ekThumbprint);
}
