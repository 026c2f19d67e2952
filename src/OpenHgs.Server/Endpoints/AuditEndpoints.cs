using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary>Audit verification against the signed checkpoints, the row integrity report, and checkpoint export (admin routes, on the group of <see cref="AdminEndpoints.MapAdminEndpoints"/>).</summary>
internal static class AuditEndpoints
{
    public static void MapAuditCheckpointEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/audit/verify", async (AuditVerifier verifier, AuditCheckpointer checkpoints, CancellationToken ct) =>
            Results.Json(ToResult(await verifier.VerifyAsync(null, ct).ConfigureAwait(false), checkpoints.Key), WireJson.Default.AuditVerifyResult))
            .Answers<AuditVerifyResult>();
        admin.MapPost("/audit/verify", async (HttpContext context, AuditVerifier verifier, AuditCheckpointer checkpoints) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AuditVerifyRequest).ConfigureAwait(false);
            var kept = request.Checkpoint is null ? null : FromFile(request.Checkpoint);
            return Results.Json(ToResult(await verifier.VerifyAsync(kept, context.RequestAborted).ConfigureAwait(false), checkpoints.Key), WireJson.Default.AuditVerifyResult);
        }).JsonBody<AuditVerifyRequest>().Answers<AuditVerifyResult>().Problems(400, "CheckpointFileInvalid");
        // Always read now (hgs audit rows); the read also becomes the dashboard's report (design change 81).
        admin.MapGet("/audit/rows", async (RowIntegritySnapshots reports, CancellationToken ct) =>
            Results.Json((await reports.FreshAsync(ct).ConfigureAwait(false)).Report, WireJson.Default.RowIntegrityReport))
            .Answers<RowIntegrityReport>();
        // The dashboard's: the last report until it is RowIntegritySnapshots.MaxAge old; fresh=true reads now ("Verify now").
        admin.MapGet("/audit/rows/snapshot", async (string? fresh, RowIntegritySnapshots reports, CancellationToken ct) =>
        {
            var snapshot = fresh switch
            {
                null => await reports.LatestAsync(ct).ConfigureAwait(false),
                "true" => await reports.FreshAsync(ct).ConfigureAwait(false),
                _ => throw ServiceException.BadRequest("RowSnapshotQueryInvalid", "The query parameter 'fresh' must be 'true' or absent."),
            };
            return Results.Json(snapshot, WireJson.Default.RowIntegritySnapshot);
        }).Answers<RowIntegritySnapshot>().Problems(400, "RowSnapshotQueryInvalid");
        admin.MapGet("/audit/checkpoint", async (AuditVerifier verifier, AuditCheckpointer checkpoints, CancellationToken ct) =>
        {
            var newest = await verifier.NewestAsync(ct).ConfigureAwait(false);
            return Results.Json(
                new AuditCheckpointFile(
                    AuditCheckpointFile.FileKind, newest.Sequence, Convert.ToHexStringLower(newest.Hash), newest.SignedAt, Convert.ToHexStringLower(newest.KeyId),
                    Convert.ToBase64String(newest.Signature), AuditCheckpointKey.Label, Convert.ToBase64String(checkpoints.Key.SubjectPublicKeyInfo)),
                WireJson.Default.AuditCheckpointFile);
        }).Answers<AuditCheckpointFile>();
    }

    private static AuditCheckpoint FromFile(AuditCheckpointFile file)
    {
        if (file.Kind != AuditCheckpointFile.FileKind)
        {
            throw Invalid($"its kind is '{file.Kind}', not '{AuditCheckpointFile.FileKind}'");
        }

        try
        {
            var checkpoint = new AuditCheckpoint(file.Sequence, Convert.FromHexString(file.Hash), file.SignedAt, Convert.FromHexString(file.KeyId), Convert.FromBase64String(file.Signature));
            return checkpoint.Sequence >= 1 && checkpoint.Hash.Length == AuditCheckpointFormat.HashLength && checkpoint.KeyId.Length == AuditCheckpointFormat.HashLength
                ? checkpoint
                : throw Invalid("it needs a sequence of at least 1 and 32-byte hash and key id");
        }
        catch (FormatException)
        {
            throw Invalid("hash and keyId must be hex, signature base64");
        }
    }

    private static ServiceException Invalid(string why) => ServiceException.BadRequest("CheckpointFileInvalid", $"The audit checkpoint file is not valid: {why}.");

    private static AuditVerifyResult ToResult(AuditTrailReport report, AuditCheckpointKey key)
    {
        var reason = report.Reason;
        var chain = report.Chain;
        return new AuditVerifyResult(
            report.Valid,
            chain.Records,
            reason is null ? null : reason.Kind == AuditFindingKind.UnsignedTailStale ? null : reason.Sequence,
            reason?.Detail,
            chain.HeadHash,
            reason?.Kind.ToString(),
            report.Newest is { } newest ? new AuditCheckpointSummary(newest.Sequence, Convert.ToHexStringLower(newest.Hash), newest.SignedAt, Source(newest.Source)) : null,
            chain.Valid ? new AuditUnsignedTail(report.UnsignedRecords, report.OldestUnsignedAt, report.Findings.Any(f => f.Kind == AuditFindingKind.UnsignedTailStale)) : null,
            report.Findings.Select(f => new AuditVerifyFinding(f.Kind.ToString(), f.Source is { } s ? Source(s) : null, f.Sequence, f.Detail)).ToList(),
            Convert.ToHexStringLower(key.KeyId));
    }

    private static string Source(AuditCheckpointSource source) => source.ToString().ToLowerInvariant();
}
