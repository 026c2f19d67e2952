using OpenHgs.Protocol.HealthCertificates;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Storage;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// TPM enrolment (HGS Add-HgsAttestationTpmHost): manufacturer roots, EK registration with EK-certificate chain
/// validation, and AK activation. Security contracts: an EK is registered only with a certificate that chains to a
/// registered root, unless the admin explicitly allows a TPM without one; an AK is accepted only after the TPM that
/// holds the registered EK has recovered a fresh credential bound to the AK's Name (MakeCredential/ActivateCredential),
/// which proves the AK is resident in that same TPM. Each change is audited in its transaction, and every refused
/// activation step (unregistered EK, rejected AK, invalid or expired credential, malformed request) gets an audit
/// record of its own with the refusal code: an activation is how an AK becomes trusted, so failed tries are evidence.
/// </summary>
/// <remarks>
/// Starting an activation needs only a registered EK's public key, which is not secret, so it writes nothing: the
/// credential carries its own MAC and expiry (<see cref="ActivationCredentials"/>), and only its completion, which
/// needs the TPM, writes (design change 74).
/// </remarks>
public sealed partial class TpmEnrollmentService(IHgsDatabase database, AuditWriter audit, ActivationCredentials credentials, TimeProvider time, ILogger<TpmEnrollmentService> logger)
{
    /// <summary>The largest EK certificate (DER) registration and attachment accept.</summary>
    internal const int MaxEkCertificateBytes = 8192;

    public async Task<TpmRootInfo> AddRootAsync(string certificate, CancellationToken cancellationToken)
    {
        using var parsed = ParseCertificate(certificate);
        var record = new TpmRootRecord(Convert.ToHexStringLower(SHA256.HashData(parsed.RawData)), parsed.Subject, parsed.RawData, time.GetUtcNow());
        await database.InTransactionAsync(async s =>
        {
            if (!await s.Tpm.AddRootAsync(record).ConfigureAwait(false))
            {
                throw ServiceException.Conflict("TpmRootExists", $"The certificate {record.Thumbprint} is already registered.");
            }

            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, TpmTable.RootSubjectPrefix + record.Thumbprint, null,
                ("subject", record.Subject))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return new TpmRootInfo(record.Thumbprint, record.Subject, record.AddedAt);
    }

    /// <summary>
    /// Removes a root or intermediate, named by its SHA-256 thumbprint or a unique prefix of at least 16 hex digits.
    /// EK chains are validated when a host is registered, so hosts registered through it stay registered (remove
    /// them with <c>hgs hosts remove</c>); new registrations through it are refused from now on.
    /// </summary>
    public async Task<TpmRootInfo> RemoveRootAsync(string thumbprint, CancellationToken cancellationToken)
    {
        string prefix = ThumbprintPrefix(thumbprint, "TpmRootThumbprintInvalid");
        return await database.InTransactionAsync(async s =>
        {
            // Rows that fail their MAC are never trusted, but can be removed (that is the remedy).
            var roots = await s.Tpm.ListRootsAsync().ConfigureAwait(false);
            var root = SingleByPrefix(
                roots.Rows.Concat(roots.Rejected.Select(r => new TpmRootRecord(r.Key, "(changed outside OpenHGS)", [], DateTimeOffset.UnixEpoch))), r => r.Thumbprint, prefix,
                () => ServiceException.NotFound("TpmRootNotFound", $"No registered TPM root has a thumbprint starting {prefix}."),
                count => ServiceException.Conflict("TpmRootAmbiguous", $"{count} TPM roots have thumbprints starting {prefix}; give more digits."));
            await s.Tpm.RemoveRootAsync(root.Thumbprint).ConfigureAwait(false);
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, TpmTable.RootSubjectPrefix + root.Thumbprint, null,
                ("subject", root.Subject), ("removed", "true"))).ConfigureAwait(false);

            // Its CRL goes with it: left behind it would still bear on a renewed certificate of the CA, and refuse every
            // registration through it once stale.
            var crls = await s.TpmCrls.ListAsync().ConfigureAwait(false);
            if (crls.Rows.Any(c => c.IssuerThumbprint == root.Thumbprint) || crls.Rejected.Any(r => r.Key == root.Thumbprint))
            {
                // The CRLs attestation checks change: a new policy version (design change 75), as for remove-crl.
                await TpmCrlService.RemoveRowAsync(s, TpmCrlRecord.KeyOnly(root.Thumbprint, root.Subject),
                    await Policies.PolicyService.BumpVersionAsync(s).ConfigureAwait(false)).ConfigureAwait(false);
            }

            return new TpmRootInfo(root.Thumbprint, root.Subject, root.AddedAt);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A certificate's SHA-256 thumbprint, or a prefix of at least 16 hex digits, lower-cased; otherwise refused with <paramref name="code"/>.</summary>
    internal static string ThumbprintPrefix(string thumbprint, string code)
    {
        ArgumentNullException.ThrowIfNull(thumbprint);
        string prefix = thumbprint.Trim().ToLowerInvariant();
        return prefix.Length is < 16 or > 64 || !prefix.All(Uri.IsHexDigit)
            ? throw ServiceException.BadRequest(code, "Name the certificate by its SHA-256 thumbprint (16 to 64 hex digits, as 'hgs tpm-roots list' shows).")
            : prefix;
    }

    /// <summary>The one candidate whose thumbprint starts with <paramref name="prefix"/>; <paramref name="none"/> or <paramref name="several"/> (given the count) otherwise.</summary>
    internal static T SingleByPrefix<T>(IEnumerable<T> candidates, Func<T, string> thumbprint, string prefix, Func<Exception> none, Func<int, Exception> several)
    {
        var matches = candidates.Where(c => thumbprint(c).StartsWith(prefix, StringComparison.Ordinal)).ToList();
        return matches.Count switch
        {
            0 => throw none(),
            > 1 => throw several(matches.Count),
            _ => matches[0],
        };
    }

    public async Task<IReadOnlyList<TpmRootInfo>> ListRootsAsync(CancellationToken cancellationToken) =>
        (await database.ReadSnapshotAsync(s => s.Tpm.ListRootsAsync(), cancellationToken).ConfigureAwait(false)).Rows
            .Select(r => new TpmRootInfo(r.Thumbprint, r.Subject, r.AddedAt)).ToList();

    /// <summary>Registers a TPM host by its EK; refuses an EK certificate that does not chain to a registered root.</summary>
    public async Task<HostInfo> AddHostAsync(AddTpmHostRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Identity);
        HostRegistry.ValidateName(request.Name);
        var (ek, ekBytes) = TpmEvidenceParsing.Public(request.Identity.EkPublic, "identity.ekPublic");
        TpmEvidenceParsing.ValidateEk(ek);
        byte[]? certificate = request.Identity.EkCertificate is null ? null : TpmEvidenceParsing.Bytes(request.Identity.EkCertificate, "identity.ekCertificate", MaxEkCertificateBytes);
        if (certificate is null && !request.AllowWithoutCertificate)
        {
            throw ServiceException.BadRequest("EkCertificateRequired", "The identity has no EK certificate; register it only if you trust this TPM otherwise (--allow-without-certificate).");
        }

        // The certificate and its chain are stored with the host (design change 75), so CRLs imported later reach it at
        // attestation; an empty chain records that the admin registered it without one.
        var record = new HostRecord(request.Name, AttestationModeNames.Tpm, ekBytes, TpmEvidenceParsing.EkThumbprint(ekBytes), time.GetUtcNow(), EkChain: string.Empty);
        string chain = "none (admin allowed a TPM without EK certificate)";
        await database.InTransactionAsync(async s =>
        {
            if (certificate is not null)
            {
                var validated = await ValidateCertificateAsync(s, certificate, ek).ConfigureAwait(false);
                chain = validated.Detail;
                record = record with { EkCertificate = certificate, EkChain = EkRevocationPath.Format(validated.Chain) };
            }

            if (await s.Hosts.FindByNameAsync(request.Name).ConfigureAwait(false) is not null)
            {
                throw ServiceException.Conflict("HostExists", $"A host named '{request.Name}' is already registered.");
            }

            if (await s.Hosts.FindByThumbprintAsync(record.KeyThumbprint).ConfigureAwait(false) is { } other)
            {
                throw ServiceException.Conflict("HostKeyInUse", $"That EK is already registered for host '{other.Name}'.");
            }

            await s.Hosts.AddAsync(record).ConfigureAwait(false);
            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, request.Name, null,
                ("mode", AttestationModeNames.Tpm), ("keyThumbprint", record.KeyThumbprint), ("ekCertificate", chain))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        LogHostAdded(logger, request.Name, record.KeyThumbprint);
        return HostRegistry.ToInfo(record);
    }

    /// <summary>First half of AK activation: a credential bound to the registered EK and the AK's Name, stored by hash, single use.</summary>
    public Task<ActivationChallenge> StartActivationAsync(ActivationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return AuditRefusalsAsync("start", request.EkPublic, () => StartActivationCoreAsync(request, cancellationToken), cancellationToken);
    }

    /// <summary>Second half: the recovered credential proves the AK lives in the EK's TPM; the AK becomes the host's attestation key.</summary>
    public Task<ActivationResult> CompleteActivationAsync(ActivationCompletion completion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return AuditRefusalsAsync("complete", completion.EkPublic, () => CompleteActivationCoreAsync(completion, cancellationToken), cancellationToken);
    }

    /// <summary>Runs an activation step; a refusal is audited (outcome refused, its code) before it reaches the caller.</summary>
    private async Task<T> AuditRefusalsAsync<T>(string step, string? ekPublic, Func<Task<T>> run, CancellationToken cancellationToken)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (ServiceException refusal) when (AuditRecord.OutageCode(refusal) is null)
        {
            string subject = TryEkThumbprint(ekPublic) is { } thumbprint ? "ek:" + thumbprint : "unknown";
            await audit.AppendAsync(
                AuditRecord.Create(AuditEvents.TpmActivation, AuditOutcomes.Refused, subject, refusal.Code, ("mode", AttestationModeNames.Tpm), ("step", step)),
                cancellationToken).ConfigureAwait(false);
            LogActivationRefused(logger, subject, step, refusal.Code);
            throw;
        }
        catch (Exception failure) when (AuditRecord.OutageCode(failure) is { } code)
        {
            // A store was away: recorded (outcome error, the code answered) once the database takes it.
            string subject = TryEkThumbprint(ekPublic) is { } thumbprint ? "ek:" + thumbprint : "unknown";
            audit.RecordError(AuditRecord.Create(AuditEvents.TpmActivation, AuditOutcomes.Error, subject, code, ("mode", AttestationModeNames.Tpm), ("step", step)));
            throw;
        }
    }

    private static string? TryEkThumbprint(string? ekPublic)
    {
        try
        {
            return ekPublic is null ? null : TpmEvidenceParsing.EkThumbprint(Convert.FromBase64String(ekPublic));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private async Task<ActivationChallenge> StartActivationCoreAsync(ActivationRequest request, CancellationToken cancellationToken)
    {
        var (ek, ekBytes) = TpmEvidenceParsing.Public(request.EkPublic, "ekPublic");
        var (ak, akBytes) = ActivatedAk(request.AkPublic);
        if ((ak.Attributes & TpmEvidenceParsing.AkRequired) != TpmEvidenceParsing.AkRequired || (ak.Attributes & ObjectAttributes.Decrypt) != 0)
        {
            throw ServiceException.BadRequest("AkAttributesRejected", $"The AK must be a fixedTPM, fixedParent, TPM-generated restricted signing key (got {ak.Attributes}).");
        }

        // Every EK must be one a credential can be made for, judged by the key alone (a registered EK passed the same
        // check at registration): a stranger's arbitrary ekPublic now reaches MakeCredential, and must not make a 500.
        TpmEvidenceParsing.ValidateEk(ek);

        // Nothing is written (design change 74). An EK that is not registered gets a credential too, made the same way
        // (design change 80): a refusal here would tell anyone holding only the EK's public key whether it is registered.
        // Only the TPM holding the EK can recover it, and the completion refuses it (EkNotRegistered) to that TPM alone.
        if (await database.ReadAsync(s => FindTpmHostOrNullAsync(s, ekBytes), cancellationToken).ConfigureAwait(false) is null)
        {
            LogUnregisteredStart(logger, "ek:" + TpmEvidenceParsing.EkThumbprint(ekBytes), nameof(AttestationFailureCode.EkNotRegistered));
        }

        var (credential, expiresAt) = credentials.Issue(ekBytes, akBytes);
        try
        {
            var idObject = CredentialMaker.MakeCredential(ek, credential, ak.ComputeName());
            return new ActivationChallenge(Convert.ToBase64String(idObject.CredentialBlob), Convert.ToBase64String(idObject.Secret), expiresAt);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or System.Security.Cryptography.CryptographicException or ArithmeticException)
        {
            // A property of the presented key (a modulus of zero, parameters a TPM would not have), whoever registered it.
            throw ServiceException.BadRequest("EkUnsupported", "No credential can be made for this EK: " + ex.Message);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(credential);
        }
    }

    private async Task<ActivationResult> CompleteActivationCoreAsync(ActivationCompletion completion, CancellationToken cancellationToken)
    {
        var (_, ekBytes) = TpmEvidenceParsing.Public(completion.EkPublic, "ekPublic");
        var (ak, akBytes) = ActivatedAk(completion.AkPublic);
        byte[] credential = TpmEvidenceParsing.Bytes(completion.Credential, "credential", 64);
        var expiresAt = credentials.Open(credential, ekBytes, akBytes);   // MAC and expiry, before any database work
        var now = time.GetUtcNow();
        string hostName = await database.InTransactionAsync(async s =>
        {
            // Locked: a removal of the host cannot commit between this read and the AK written below, so an AK never
            // outlives its EK's registration (a start costs nothing, so completions racing a removal are cheap to try).
            var host = await FindTpmHostAsync(s, ekBytes, lockRow: true).ConfigureAwait(false);

            // Single use, enforced by this commit: a second completion of the same credential (even concurrently, on
            // another node) finds the row and writes nothing.
            if (!await s.UsedNonces.TryMarkUsedAsync(ActivationCredentials.UsedKey(credential), expiresAt).ConfigureAwait(false))
            {
                throw ServiceException.Forbidden("ActivationInvalid", "The credential was already used to activate an AK; start the activation again.");
            }

            await s.Tpm.SetAttestationKeyAsync(new AttestationKeyRecord(host.Name, akBytes, now)).ConfigureAwait(false);
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, host.Name, null,
                ("mode", AttestationModeNames.Tpm), ("akName", Convert.ToHexStringLower(ak.ComputeName())),
                ("akPublicSha256", TpmTable.AkPublicDigest(akBytes)))).ConfigureAwait(false);
            return host.Name;
        }, cancellationToken).ConfigureAwait(false);
        LogActivated(logger, hostName);
        return new ActivationResult(hostName, Convert.ToHexStringLower(ak.ComputeName()));
    }

    /// <summary>The AK of an activation step, refused <c>AkNameAlgRejected</c> unless its Name is SHA-256/384/512: the credential binds the AK by its Name.</summary>
    private static (TpmtPublic Ak, byte[] Bytes) ActivatedAk(string? akPublic)
    {
        var (ak, akBytes) = TpmEvidenceParsing.Public(akPublic, "akPublic");
        return TpmEvidenceParsing.IsAcceptedNameAlg(ak.NameAlg)
            ? (ak, akBytes)
            : throw ServiceException.BadRequest(nameof(AttestationFailureCode.AkNameAlgRejected), TpmEvidenceParsing.NameAlgRefusal("AK", ak));
    }

    /// <summary>The TPM host registered with this EK (with the admin records it was judged by), or null.</summary>
    internal static async Task<CurrentHost?> FindTpmHostOrNullAsync(HgsSession s, byte[] ekBytes, bool lockRow = false)
    {
        var host = await s.Hosts.FindCurrentByThumbprintAsync(TpmEvidenceParsing.EkThumbprint(ekBytes), lockRow).ConfigureAwait(false);
        return host is { Record.Mode: AttestationModeNames.Tpm } && host.Record.PublicKey.AsSpan().SequenceEqual(ekBytes) ? host : null;
    }

    /// <param name="lockRow">Locks the host row for the rest of the write transaction (PostgreSQL; SQLite's writer lock already does).</param>
    private static async Task<HostRecord> FindTpmHostAsync(HgsSession s, byte[] ekBytes, bool lockRow = false) =>
        (await FindTpmHostOrNullAsync(s, ekBytes, lockRow).ConfigureAwait(false))?.Record
            ?? throw ServiceException.Forbidden(nameof(AttestationFailureCode.EkNotRegistered), "No TPM host is registered with this EK; the admin registers it with 'hgs hosts add-tpm'.");

    private async Task<EkCertificateResult> ValidateCertificateAsync(HgsSession s, byte[] certificate, TpmtPublic ek)
    {
        var registered = (await s.Tpm.ListRootsAsync().ConfigureAwait(false)).Rows.Select(r => X509CertificateLoader.LoadCertificate(r.Certificate)).ToList();
        try
        {
            var roots = registered.Where(c => c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)).ToList();
            var intermediates = registered.Except(roots).ToList();
            var revocation = await TpmCrlService.RevocationDataAsync(s).ConfigureAwait(false);
            var result = EkCertificateValidator.Validate(certificate, ek, roots, intermediates, time.GetUtcNow(), revocation);
            return result.Succeeded
                ? result
                : throw ServiceException.Forbidden("EkCertificate" + result.Failure, $"The EK certificate is refused ({result.Failure}): {result.Detail}. {Remedy(result.Failure)}");
        }
        finally
        {
            registered.ForEach(c => c.Dispose());
        }
    }

    /// <summary>What the admin can do about a refused EK certificate.</summary>
    private static string Remedy(EkCertificateFailure? failure) => failure switch
    {
        EkCertificateFailure.KeyMismatch => "It certifies another key: give the certificate of this TPM's EK ('hgs client identify' on the host).",
        EkCertificateFailure.Revoked => "Its TPM manufacturer revoked it: do not register this TPM.",
        EkCertificateFailure.CrlExpired => "Import the issuer's current CRL with 'hgs tpm-roots add-crl'.",
        EkCertificateFailure.CrlUnavailable => "See 'hgs audit rows'; import the issuer's CRL again, or remove it with 'hgs tpm-roots remove-crl'.",
        _ => "Register the TPM manufacturer's root with 'hgs tpm-roots add'.",
    };

    private static X509Certificate2 ParseCertificate(string text)
    {
        try
        {
            return text.Contains("-----BEGIN", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(text)
                : X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or ArgumentException)
        {
            throw ServiceException.BadRequest("CertificateMalformed", "The TPM root is not a PEM or base64 DER X.509 certificate.");
        }
    }


    [LoggerMessage(EventId = 1400, Level = LogLevel.Information, Message = "TPM host {HostName} registered with EK {EkThumbprint}")]
    private static partial void LogHostAdded(ILogger logger, string hostName, string ekThumbprint);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Attestation key activated for TPM host {HostName}")]
    private static partial void LogActivated(ILogger logger, string hostName);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "TPM AK activation ({Step}) refused for {Subject}: {Reason}")]
    private static partial void LogActivationRefused(ILogger logger, string subject, string step, string reason);

    [LoggerMessage(EventId = 1420, Level = LogLevel.Warning,
        Message = "TPM AK activation (start) for {Subject}: {Reason}. Answered with a credential like any other (so the answer does not say whether the EK is registered); its completion is refused.")]
    private static partial void LogUnregisteredStart(ILogger logger, string subject, string reason);
}
