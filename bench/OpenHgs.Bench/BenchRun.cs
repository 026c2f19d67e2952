using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Hosting;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Storage;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Testing;


namespace OpenHgs.Bench;

/// <summary>
/// One bench run: a SoftHSM2 token with the fabric's keys, the raw key store rates, isolated audit appends, then
/// the real service as a child process under concurrent release and attestation load (host-key, then TPM with
/// evidence prepared by swtpm), and the scale run.
/// </summary>
public sealed class BenchRun(BenchOptions options, Progress progress)
{
    private const int ActiveHosts = 16;

    public async Task<JsonObject> RunAsync(CancellationToken cancellationToken)
    {
        var json = new JsonObject { ["bench"] = "openhgs", ["cores"] = Environment.ProcessorCount, ["load_avg_start"] = LoadAverage() };
        string root = Directory.CreateTempSubdirectory("openhgs-bench-").FullName;
        try
        {
            progress.Step("SoftHSM2 token (holds every fabric key of this run)");
            using var token = new SoftHsmToken();
            PostgresServer? postgres = options.Postgres ? StartDurablePostgres() : null;
            string data = Path.Combine(root, "service");
            var database = postgres is null ? BenchDatabase.Sqlite(Path.Combine(data, "hgs.db")) : BenchDatabase.Postgres(postgres.CreateDatabase("bench"));
            var statements = postgres is null ? null : await PostgresStatements.EnableAsync(postgres, database.PostgresConnectionString!, cancellationToken).ConfigureAwait(false);
            json["key_store"] = "softhsm2 (pkcs11, Pkcs11KeyStore)";
            json["database"] = database.Provider;

            progress.Step($"hgs server init ({database.Provider}, keys generated in the token)");
            var init = await HgsInitializer.InitializeAsync(new InitRequest(data, token.KeyStoreUri, database.ServiceSpec, "Bench fabric", false), TimeProvider.System, cancellationToken).ConfigureAwait(false);
            string adminToken = (await File.ReadAllTextAsync(init.AdminTokenPath!, cancellationToken).ConfigureAwait(false)).Trim();

            var hsm = MeasureHsm(token);
            json["hsm_unwrap_per_s"] = Round(hsm.UnwrapPerSecond);
            json["hsm_sign_per_s"] = Round(hsm.AttestationSignPerSecond);
            json["hsm_kps_sign_per_s"] = Round(hsm.KpsSignPerSecond);
            json["hsm_kps_sign_alg"] = hsm.KpsSignAlgorithm;
            json["hsm_threads"] = hsm.Threads;
            json["hsm_failures"] = hsm.Failures;
            json["hsm_unwrap_cpu_ms"] = Round(hsm.UnwrapCpuMs, 3);
            json["hsm_sign_cpu_ms"] = Round(hsm.AttestationSignCpuMs, 3);
            json["hsm_kps_sign_cpu_ms"] = Round(hsm.KpsSignCpuMs, 3);
            json["hsm_native_rewrap_cpu_ms"] = hsm.NativeRewrapCpuMs is { } rewrapCpu ? Round(rewrapCpu, 3) : null;
            json["hsm_release_ceiling_per_s"] = Round(hsm.ReleaseCeilingPerSecond);
            json["hsm_native_rewrap_per_s"] = hsm.NativeRewrapPerSecond is { } rewrap ? Round(rewrap) : null;

            var audit = await MeasureAuditAppendsAsync(root, postgres).ConfigureAwait(false);
            json["audit_append_per_s"] = Round(audit.SequentialPerSecond);
            json["audit_append_ms"] = Round(audit.SequentialMeanMs, 2);
            json["audit_append_concurrent_per_s"] = Round(audit.ConcurrentPerSecond);
            json["audit_append_batched16_records_per_s"] = Round(audit.Batched16RecordsPerSecond);

            progress.Step("service: dotnet hgs.dll server run (child process)");
            await using var service = await ServiceProcess.StartAsync(data, cancellationToken).ConfigureAwait(false);
            progress.Info($"pid {service.Pid}, http://127.0.0.1:{service.Port}, RSS {service.RssMb:F0} MB at start");
            using var http = WireClient.CreateHttp(service.BaseAddress, options.Concurrency.Max() + 4);
            var wire = new WireClient(http);
            using var admin = new AdminClient([service.BaseAddress.ToString().TrimEnd('/')], adminToken);
            var hosts = await RegisterHostsAsync(admin, cancellationToken).ConfigureAwait(false);
            try
            {
                var fixture = await PrepareReleaseAsync(admin, wire, hosts[0], database, cancellationToken).ConfigureAwait(false);
                // The stage timings and token ceilings use the same token through their own store, with the release key
                // handling the service decided at start-up (same configuration, same function, not --production).
                using var ceilingStore = token.OpenKeyStore();
                var handling = HgsRuntime.TransportKeyHandlingFor(ceilingStore, HgsConfiguration.Load(data), null, production: false);
                MeasureReleaseStages(json, token, fixture, handling);
                var ceilings = new Ceilings(options, progress, service, wire, new TokenCeilingBench(ceilingStore, fixture, handling));
                await new LoadPhases(options, progress, service, wire, hosts, hsm, audit, ceilings).RunAsync(json, fixture.Body, cancellationToken).ConfigureAwait(false);
                await new TpmLoadPhase(options, progress, service, wire, admin, adminToken, root, database.Provider, hsm, audit, ceilings).RunAsync(json, cancellationToken).ConfigureAwait(false);
                await new ScaleRun(options, progress).RunAsync(json, database, postgres, statements, service, wire, hosts, root, cancellationToken).ConfigureAwait(false);

                progress.Step("audit chain: verified end to end (AuditChain.Verify over every record, streamed)");
                var verification = await AuditChainCheck.VerifyAsync(database, cancellationToken).ConfigureAwait(false);
                json["audit_records_total"] = verification.Records;
                json["audit_chain_valid"] = verification.Valid;
                progress.Info(verification.Valid ? $"valid: {verification.Records:N0} records, head {verification.HeadHash![..16]}…" : $"BROKEN at record {verification.FirstBrokenSequence}: {verification.Problem}");

                json["server_peak_rss_mb"] = Round(service.PeakRssMb);
                json["server_rss_end_mb"] = Round(service.RssMb);
                progress.Info($"server_peak_rss_mb = {service.PeakRssMb:F0} MB (VmHWM of the service process over the whole run, scale run included; target ≤ 300 MB)");

                progress.Step("admin: GET /admin/v1/audit/verify through the service (hgs audit verify), after the peak RSS above was taken");
                var verified = await AdminAuditVerify.RunAsync(service, adminToken, cancellationToken).ConfigureAwait(false);
                json["admin_audit_verify_valid"] = verified.Valid;
                json["admin_audit_verify_s"] = Round(verified.Seconds, 2);
                json["server_peak_rss_after_audit_verify_mb"] = Round(verified.PeakRssAfterMb);
                progress.Info($"{(verified.Valid ? "valid" : "INVALID")}: {verified.Records:N0} records in {verified.Seconds:F1} s; service peak RSS afterwards {verified.PeakRssAfterMb:F0} MB (verification streams the chain page by page)");
            }
            finally
            {
                hosts.ForEach(h => h.Dispose());
            }

            json["load_avg_end"] = LoadAverage();
            return json;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            NpgsqlConnection.ClearAllPools();
            TryDelete(root);
        }
    }

    private HsmRates MeasureHsm(SoftHsmToken token)
    {
        progress.Step($"key store: raw operations through Pkcs11KeyStore, one thread per core ({Environment.ProcessorCount}), {options.HsmDuration.TotalSeconds:F0} s each");
        using var store = token.OpenKeyStore();
        var hsm = new HsmBench(store, FabricKeyLabels.Find(store)).Run(options.HsmDuration);
        progress.Info($"hsm_unwrap_per_s = {hsm.UnwrapPerSecond:F0}: RSA-2048 OAEP decrypt of the KPS encryption key ({hsm.UnwrapCpuMs:F3} ms of CPU each; SoftHSM2 does the big-number math on the CPU, so this is CPU-bound: an idle {hsm.Threads}-core machine would do ≈{hsm.Threads * 1000 / hsm.UnwrapCpuMs:F0}/s)");
        progress.Info($"hsm_sign_per_s = {hsm.AttestationSignPerSecond:F0}: ECDSA P-256 signature of the attestation signer (SHA-256 in .NET, CKM_ECDSA in the token; {hsm.AttestationSignCpuMs:F3} ms of CPU each)");
        progress.Info($"hsm_kps_sign_per_s = {hsm.KpsSignPerSecond:F0}: {hsm.KpsSignAlgorithm} signature of the KPS signing key (every release signs the rolled key protector with it; {hsm.KpsSignCpuMs:F3} ms of CPU each)");
        if (hsm.Failures > 0)
        {
            progress.Info($"hsm_failures = {hsm.Failures}: the token refused valid requests during the measurements (see README: SoftHSM2 HSM-native re-wrap under concurrency)");
        }

        if (hsm.NativeRewrapPerSecond is { } rewrap)
        {
            progress.Info($"hsm_native_rewrap_per_s = {rewrap:F0}: the HSM-native release step the service uses on this token (C_UnwrapKey + C_Sign HMAC + C_CreateObject + C_WrapKey + 2 × C_DestroyObject), {rewrap / hsm.UnwrapPerSecond:F2} × the rate of a plain decrypt ({hsm.NativeRewrapCpuMs:F3} ms of CPU each)");
        }

        progress.Info($"hsm_release_ceiling_per_s = {hsm.ReleaseCeilingPerSecond:F0}: a release needs one unwrap{(hsm.NativeRewrapPerSecond is null ? string.Empty : " (as the HSM-native re-wrap)")} AND one {hsm.KpsSignAlgorithm} signature, so the key store allows at most 1/(1/unwrap + 1/sign) releases/s = {hsm.ReleaseCeilingPerSecond / hsm.UnwrapPerSecond:F2} × hsm_unwrap_per_s");
        return hsm;
    }

    private async Task<AuditAppendRates> MeasureAuditAppendsAsync(string root, PostgresServer? postgres)
    {
        progress.Step("audit trail: durable appends in isolation (AuditTable.AppendAsync in its own transaction, scratch database of the same kind)");
        // Audit records carry no row MAC; the scratch database still needs a row-MAC key, from a scratch software store.
        using var rowKeys = new SoftwareKeyStoreProvider().Open(
            KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(Path.Combine(root, "audit-append-keys"), Production: false));
        rowKeys.AsRecordAuthenticator()!.CreateMacKey(KeyStoreRowAuthenticator.MacKeyLabel);
        var rows = new KeyStoreRowAuthenticator(rowKeys);
        IHgsDatabase scratch = postgres is null
            ? new SqliteDatabase(Path.Combine(root, "audit-append.db"), TimeProvider.System, rows)
            : new PostgresDatabase(postgres.CreateDatabase("bench_audit"), TimeProvider.System, rows);
        try
        {
            var rates = await AuditAppendBench.RunAsync(scratch, TimeSpan.FromSeconds(options.Quick ? 1 : 2), 8).ConfigureAwait(false);
            progress.Info($"audit_append_per_s = {rates.SequentialPerSecond:F0} ({rates.SequentialMeanMs:F2} ms each): one record per committed transaction; the commit waits for fsync (SQLite WAL synchronous=FULL / PostgreSQL synchronous_commit=on)");
            progress.Info($"audit_append_concurrent_per_s = {rates.ConcurrentPerSecond:F0} with {rates.Concurrency} writers: appends serialise on the audit head (one chain), so concurrency does not add commits");
            progress.Info($"audit_append_batched16_records_per_s = {rates.Batched16RecordsPerSecond:F0}: 16 records per transaction share one fsync — what a group commit would reach");
            return rates;
        }
        finally
        {
            (scratch as IDisposable)?.Dispose();
        }
    }

    /// <summary>Registers the hosts the load uses (with RSA encryption keys) and fillers up to the scale run's small population.</summary>
    private async Task<List<BenchHost>> RegisterHostsAsync(AdminClient admin, CancellationToken cancellationToken)
    {
        progress.Step($"registering {options.ScaleSmallHosts} hosts through the admin API ({ActiveHosts} of them attest in the load phases)");
        var hosts = new BenchHost[ActiveHosts];
        Parallel.For(0, ActiveHosts, i => hosts[i] = BenchHost.Create($"bench-host-{i:D2}"));
        await BenchHost.RegisterAsync(admin, hosts, options.ScaleSmallHosts, cancellationToken).ConfigureAwait(false);
        return [.. hosts];
    }

    /// <summary>A health certificate for host 0 and a key protector granted to the fabric; one release checked for correctness.</summary>
    private async Task<ReleaseFixture> PrepareReleaseAsync(AdminClient admin, WireClient wire, BenchHost host, BenchDatabase database, CancellationToken cancellationToken)
    {
        progress.Step("preparing a health certificate and a key protector (VM owner guardian + fabric guardian)");
        byte[] certificate = await wire.AttestAsync(host, cancellationToken).ConfigureAwait(false);
        var fabric = GuardianMetadata.Parse(await admin.ExportGuardianAsync(cancellationToken).ConfigureAwait(false));
        using var owner = LocalGuardian.Create("bench-owner", TimeProvider.System);
        byte[] transportKey = RandomNumberGenerator.GetBytes(32);
        byte[] protector = KeyProtectorBuilder.Create(owner, [fabric], transportKey).ToJson();
        byte[] body = WireClient.ReleaseBody(protector, certificate);
        var answer = await wire.ReleaseAsync(body, cancellationToken).ConfigureAwait(false);
        var padding = answer.TransportKey.Algorithm == KeyProtectorAlgorithms.RsaOaep256 ? RSAEncryptionPadding.OaepSHA256 : RSAEncryptionPadding.OaepSHA1;
        byte[] released = host.Encryption.Decrypt(Convert.FromBase64String(answer.TransportKey.Value), padding);
        if (!CryptographicOperations.FixedTimeEquals(released, transportKey))
        {
            throw new InvalidOperationException("the released transport key is not the one in the key protector");
        }

        progress.Info($"key protector {protector.Length} bytes (wrap {fabric.PreferredWrapAlgorithm}), health certificate {certificate.Length} bytes; a first release returned the right transport key (wrapped to the host with {answer.TransportKey.Algorithm})");
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT certificate FROM fabric_keys WHERE role = 'attestation-signer' AND is_primary = 1";
        byte[] signer = (byte[])(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("no primary attestation signer"));
        return new ReleaseFixture(body, protector, certificate, fabric, signer, host.EncryptionPublicKey);
    }

    /// <summary>Where a release's CPU goes, step by step, in this process on one thread (the service is idle meanwhile).</summary>
    private void MeasureReleaseStages(JsonObject json, SoftHsmToken token, ReleaseFixture fixture, TransportKeyHandling handling)
    {
        progress.Step("release path step by step (in process, one thread, same token; CPU ms per call)");
        using var store = token.OpenKeyStore();
        var stages = ReleaseStageBench.Run(store, FabricKeyLabels.Find(store), fixture, handling, TimeSpan.FromSeconds(options.Quick ? 0.3 : 0.8));
        progress.Info($"validate health certificate {stages.ValidateHealthCertificateMs:F3} ms; parse + verify key protector {stages.ParseAndVerifyMs:F3} ms; {(stages.HsmNative ? "HSM-native re-wrap (C_UnwrapKey + HMAC + C_WrapKey) in token" : "unwrap in token")} {stages.UnwrapMs:F3} ms; roll {stages.RollMs:F3} ms (of which the KPS signature in the token {stages.RollSignMs:F3} ms)");
        progress.Info($"  = {stages.TotalMs:F2} ms of one core per release for the crypto path, {(stages.UnwrapMs + stages.RollSignMs) / stages.TotalMs:P0} of it the token's private-key operations (unwrap + KPS signature)");
        progress.Info($"  the rest is public-key work: the key protector is verified once, before the unwrap (Roll skips an instance that passed and checks only its own new signature on the result), and parsed guardian certificates, their keys and verified endorsements are memoised (design change 14), so each verification costs about one RS256 check of the payload ({stages.RsaVerifyMs:F3} ms with an imported key; importing one RSA public key into OpenSSL 3 would cost {stages.RsaPublicImportMs:F3} ms) plus JSON; Roll also wraps the new transport key to every guardian (one RSA public operation each)");
        json["stage_validate_health_certificate_ms"] = Round(stages.ValidateHealthCertificateMs, 3);
        json["stage_parse_verify_kp_ms"] = Round(stages.ParseAndVerifyMs, 3);
        json["stage_unwrap_ms"] = Round(stages.UnwrapMs, 3);
        json["stage_unwrap_path"] = stages.HsmNative ? "hsm-native" : "memory";
        json["stage_roll_ms"] = Round(stages.RollMs, 3);
        json["stage_roll_rs256_sign_ms"] = Round(stages.RollSignMs, 3);
        json["stage_crypto_total_ms"] = Round(stages.TotalMs, 3);
        json["stage_rsa_public_import_ms"] = Round(stages.RsaPublicImportMs, 3);
        json["stage_rsa_verify_ms"] = Round(stages.RsaVerifyMs, 3);
    }

    /// <summary>The tests' PostgreSQL, switched back to durable commits (the test configuration turns fsync off).</summary>
    private PostgresServer StartDurablePostgres()
    {
        progress.Step("PostgreSQL: private server started by the bench, durable (fsync=on, synchronous_commit=on, full_page_writes=on)");
        var server = PostgresServer.StartNew();
        using var connection = new NpgsqlConnection(server.AdminConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET synchronous_commit = on; ALTER SYSTEM SET full_page_writes = on; SELECT pg_reload_conf();";
        command.ExecuteNonQuery();
        return server;
    }

    internal static double Round(double value, int digits = 1) => Math.Round(value, digits, MidpointRounding.AwayFromZero);

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: it is under the temp folder.
        }
    }
}
