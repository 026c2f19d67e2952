using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;

namespace OpenHgs.Service.Attestation;

/// <summary>
/// Audits attestation requests refused as bad input (malformed JSON, base64 or TPM structures). Security contract:
/// every request that reaches the attestation endpoint leaves an audit record — a verdict's own, or a "refused" one
/// with the problem code — so probing the parser with malformed evidence is visible in the trail. A request that fails
/// because the database or key store is unavailable gets a record with outcome <c>error</c> and the 503 code
/// (<see cref="AuditWriter.RecordError"/>), written once the database answers.
/// </summary>
public static class AttestationInputAudit
{
    /// <summary>Runs <paramref name="run"/>; a bad-input refusal is audited (outcome refused, its code) before it reaches the caller.</summary>
    public static async Task<T> RunAsync<T>(AuditWriter audit, Func<AttestRequest?> request, Func<Task<T>> run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(run);
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (ServiceException refusal) when (refusal.Kind is ProblemKind.BadRequest or ProblemKind.PayloadTooLarge)
        {
            var seen = request();
            await audit.AppendAsync(
                AuditRecord.Create(AuditEvents.Attestation, AuditOutcomes.Refused, Subject(seen), refusal.Code,
                    ("mode", Mode(seen)), ("status", "BadInput")),
                cancellationToken).ConfigureAwait(false);
            throw;
        }
        catch (Exception failure) when (AuditRecord.OutageCode(failure) is { } code)
        {
            // A store was away: no verdict. Recorded (outcome error, the code answered) once the database takes it.
            var seen = request();
            audit.RecordError(AuditRecord.Create(AuditEvents.Attestation, AuditOutcomes.Error, Subject(seen), code,
                ("mode", Mode(seen)), ("status", "Error")));
            throw;
        }
    }

    private static string? Mode(AttestRequest? request) => request?.Tpm is not null ? AttestationModeNames.Tpm : request?.HostKey is not null ? AttestationModeNames.HostKey : null;

    /// <summary>Who the request claims to be, when that much decodes: the EK or the host signing key's thumbprint.</summary>
    private static string Subject(AttestRequest? request)
    {
        try
        {
            return request switch
            {
                { Tpm.EkPublic: { } ek } => "ek:" + HostKeys.Thumbprint(Convert.FromBase64String(ek)),
                { HostKey.SigningPublicKey: { } key } => HostKeys.Thumbprint(Convert.FromBase64String(key)),
                _ => "unknown",
            };
        }
        catch (FormatException)
        {
            return "unknown";
        }
    }
}
