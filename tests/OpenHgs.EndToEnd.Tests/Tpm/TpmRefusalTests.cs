using System.Security.Cryptography;
using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Every TPM-mode refusal names its reason (or failing policy) and changes nothing: no certificate, no new host,
/// no new attestation key; only the consumed nonce and a "refused" audit record.
/// </summary>
public sealed class TpmRefusalTestsOnSqlite() : TpmRefusalTests(DatabaseKind.Sqlite);

/// <summary>The same refusals with the service on PostgreSQL.</summary>
public sealed class TpmRefusalTestsOnPostgres() : TpmRefusalTests(DatabaseKind.Postgres);

public abstract class TpmRefusalTests(DatabaseKind database)
{
    [Fact]
    [Trait("Attack", "A12")]
    public async Task Unregistered_EK_is_refused_at_activation_and_at_attestation()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("stranger", register: false, activate: false);
        using var client = host.Client();

        // The start answers as for any EK (design change 80); the completion, which only this TPM can make, is refused.
        var activation = await Assert.ThrowsAsync<HgsClientException>(() => client.ActivateTpmAsync(CancellationToken.None));
        Assert.Equal("EkNotRegistered", activation.Code);
        Assert.Equal(1, await RefusedActivationsAsync(scenario, "EkNotRegistered"));
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.tpm.activate' AND details LIKE '%\"step\":\"complete\"%'"));

        // The caller is told what it would be told for a registered EK without an activated AK; the audit keeps why.
        await AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "AkNotActivated", "UnauthorizedHost");
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = 'EkNotRegistered'"));
    }

    [Fact]
    [Trait("Attack", "A13")]
    public async Task Activation_with_a_wrong_or_late_credential_is_refused_audited_and_binds_no_AK()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var host = await scenario.EnrolAsync("late", activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        var agent = client.TpmAgent!;
        var start = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(agent.CreateKeys(), WireJson.Default.ActivationRequest));
        Assert.Equal(200, start.Status);
        var challenge = start.Body.Deserialize(WireJson.Default.ActivationChallenge)!;

        // A credential the service never issued: refused, audited, and the real one is still pending.
        var guessed = await raw.PostAsync("attestation/v1/tpm/activate/complete", JsonSerializer.Serialize(agent.Completion(RandomNumberGenerator.GetBytes(32)), WireJson.Default.ActivationCompletion));
        Assert.Equal((403, "ActivationInvalid"), (guessed.Status, guessed.Code));
        Assert.Equal(1, await RefusedActivationsAsync(scenario, "ActivationInvalid"));

        // The real credential, recovered by the TPM, but presented after the activation's lifetime.
        byte[] credential = agent.Activate(challenge);
        scenario.Service.Time.Offset += TpmActivationLifetime + TimeSpan.FromSeconds(5);
        var late = await raw.PostAsync("attestation/v1/tpm/activate/complete", JsonSerializer.Serialize(agent.Completion(credential), WireJson.Default.ActivationCompletion));
        Assert.Equal((403, "ActivationExpired"), (late.Status, late.Code));
        Assert.Equal(1, await RefusedActivationsAsync(scenario, "ActivationExpired"));
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));
    }

    [Fact]
    [Trait("Attack", "A14")]
    public async Task EK_certificate_that_does_not_chain_to_a_registered_root_is_not_registered()
    {
        await using var scenario = await TpmScenario.StartAsync(registerRoots: false, database: database);
        await scenario.RegisterRootsOfAsync(scenario.AnotherTpm());   // some other manufacturer's CA
        long hosts = await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM hosts");

        var refused = await Assert.ThrowsAsync<HgsClientException>(() => scenario.EnrolAsync("untrusted"));

        Assert.Equal("EkCertificateUntrustedChain", refused.Code);
        Assert.Equal(hosts, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM hosts"));
    }

    [Fact]
    public async Task Removed_TPM_root_refuses_new_registrations_through_it_and_unknown_roots_are_named()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var roots = await scenario.Admin.ListRootsAsync(CancellationToken.None);
        Assert.NotEmpty(roots);
        foreach (var root in roots)
        {
            var removed = await scenario.Admin.RemoveRootAsync(root.Thumbprint[..16], CancellationToken.None);
            Assert.Equal(root.Thumbprint, removed.Thumbprint);
        }

        Assert.Empty(await scenario.Admin.ListRootsAsync(CancellationToken.None));
        long hosts = await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM hosts");
        var refused = await Assert.ThrowsAsync<HgsClientException>(() => scenario.EnrolAsync("after-removal"));
        Assert.Equal("EkCertificateUntrustedChain", refused.Code);
        Assert.Equal(hosts, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM hosts"));

        long audit = await scenario.Service.AuditCountAsync();
        var unknown = await Assert.ThrowsAsync<HgsClientException>(() => scenario.Admin.RemoveRootAsync(roots[0].Thumbprint, CancellationToken.None));
        Assert.Equal("TpmRootNotFound", unknown.Code);
        var malformed = await Assert.ThrowsAsync<HgsClientException>(() => scenario.Admin.RemoveRootAsync("abc", CancellationToken.None));
        Assert.Equal("TpmRootThumbprintInvalid", malformed.Code);
        Assert.Equal(audit, await scenario.Service.AuditCountAsync());
    }

    [Fact]
    public async Task TPM_without_EK_certificate_needs_the_explicit_option()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var host = await scenario.EnrolAsync("probe", register: false, activate: false);
        using var client = host.Client();
        var identity = client.TpmAgent!.Identify() with { EkCertificate = null };

        var refused = await Assert.ThrowsAsync<HgsClientException>(() => scenario.Admin.AddHostAsync("no-cert", identity, allowWithoutCertificate: false, CancellationToken.None));
        Assert.Equal("EkCertificateRequired", refused.Code);
        var added = await scenario.Admin.AddHostAsync("no-cert", identity, allowWithoutCertificate: true, CancellationToken.None);
        Assert.Equal("tpm", added.Mode);
    }

    [Fact]
    [Trait("Attack", "A15")]
    public async Task AK_not_activated_for_this_EK_is_refused()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("no-ak", activate: false);
        using var client = host.Client();

        await AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "AkNotActivated", "UnauthorizedHost");
    }

    [Fact]
    public async Task Removing_a_host_removes_its_AK_so_re_registration_needs_a_new_activation()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        await scenario.Service.Admin.RemoveHostAsync("host", CancellationToken.None);
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));
        await scenario.Admin.AddHostAsync("host", client.TpmAgent!.Identify(), allowWithoutCertificate: false, CancellationToken.None);

        await AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "AkNotActivated", "UnauthorizedHost");
        await client.ActivateTpmAsync(CancellationToken.None);
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
    }

    [Fact]
    [Trait("Attack", "A16")]
    public async Task Quote_over_a_stale_or_foreign_nonce_is_refused()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();

        var first = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        Assert.True((await client.SubmitAsync(first, CancellationToken.None)).Passed);
        await AssertRefusedAsync(scenario, client, first, "NonceReplayed", "InvalidEvidence");   // replay of a used nonce

        var issued = await client.ChallengeAsync(CancellationToken.None);
        var other = await client.ChallengeAsync(CancellationToken.None);
        var foreign = client.BuildEvidence(other) with { Nonce = issued.Nonce };   // quote covers another nonce
        await AssertRefusedAsync(scenario, client, foreign, "QuoteNonceMismatch", "InvalidEvidence");
    }

    [Fact]
    [Trait("Attack", "A17")]
    public async Task Quote_from_another_TPM_is_refused()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        var impostor = await scenario.EnrolAsync("impostor", tpm: scenario.AnotherTpm(), register: false, activate: false);
        using var client = host.Client();
        using var impostorClient = impostor.Client();

        var challenge = await client.ChallengeAsync(CancellationToken.None);
        var genuine = client.BuildEvidence(challenge).Tpm!;
        var forged = impostorClient.BuildEvidence(challenge).Tpm! with { EkPublic = genuine.EkPublic, AkPublic = genuine.AkPublic };
        await AssertRefusedAsync(scenario, client, new AttestRequest(challenge.Nonce, Tpm: forged), "QuoteSignatureInvalid", "InvalidEvidence");
    }

    [Theory]
    [Trait("Attack", "A18")]
    [InlineData("altered")]
    [InlineData("removed")]
    [InlineData("reordered")]
    public async Task Event_log_that_no_longer_replays_to_the_quote_is_refused(string change)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        byte[] log = TestData.ReadLog("Rhel8GCE");
        var parsed = EventLogParser.Parse(log);
        var boot = parsed.Events.Where(e => e.Pcr == 4 && e.IsExtended).ToList();
        byte[] tampered = change switch
        {
            "altered" => Altered(log, boot[1]),
            "removed" => [.. log[..boot[1].Offset], .. log[(boot[1].Offset + boot[1].Size)..]],
            _ => Swapped(log, boot[1], boot[2]),
        };

        var challenge = await client.ChallengeAsync(CancellationToken.None);
        var evidence = client.BuildEvidence(challenge);
        evidence = evidence with { Tpm = evidence.Tpm! with { EventLog = Convert.ToBase64String(tampered) } };
        await AssertRefusedAsync(scenario, client, evidence, "EventLogReplayMismatch", "InvalidEvidence");
    }

    [Fact]
    [Trait("Attack", "A23")]
    public async Task Malformed_evidence_is_bad_input_and_an_unparsable_log_is_named()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();

        var evidence = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        var notBase64 = await Assert.ThrowsAsync<HgsClientException>(() => client.SubmitAsync(evidence with { Tpm = evidence.Tpm! with { Quote = "%%%" } }, CancellationToken.None));
        Assert.Equal(("EvidenceMalformed", 400), (notBase64.Code, notBase64.HttpStatus));

        byte[] truncated = TestData.ReadLog("Rhel8GCE")[..1000];
        await AssertRefusedAsync(scenario, client, evidence with { Tpm = evidence.Tpm! with { EventLog = Convert.ToBase64String(truncated) } }, "EventLogMalformed", "InvalidEvidence");
    }

    public static TheoryData<ushort> NamelessAlgorithms => new() { 0x0010 /* TPM_ALG_NULL */, 0x0012 /* SM3_256: no .NET hash */ };

    [Theory]
    [Trait("Attack", "A22")]
    [MemberData(nameof(NamelessAlgorithms))]
    public async Task AK_whose_nameAlg_gives_no_Name_is_bad_input_at_activation_and_attestation_and_audited(ushort nameAlg)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        var keys = client.TpmAgent!.CreateKeys();

        // Activation: refused as bad input (not a 500), audited with the code, no AK bound.
        long aks = await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys");
        var start = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(keys with { AkPublic = WithNameAlg(keys.AkPublic, nameAlg) }, WireJson.Default.ActivationRequest));
        Assert.Equal((400, "EvidenceMalformed"), (start.Status, start.Code));
        Assert.Equal(1, await RefusedActivationsAsync(scenario, "EvidenceMalformed"));
        Assert.Equal(aks, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));

        // Attestation: the same AK in evidence is bad input, with a refused audit record naming the code.
        var evidence = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        var attest = await raw.AttestAsync(evidence with { Tpm = evidence.Tpm! with { AkPublic = WithNameAlg(evidence.Tpm.AkPublic, nameAlg) } });
        Assert.Equal((400, "EvidenceMalformed"), (attest.Status, attest.Code));
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = 'EvidenceMalformed'"));
    }

    [Fact]
    [Trait("Attack", "A121")]
    public async Task AK_with_a_SHA1_nameAlg_is_refused_at_both_activation_steps_and_audited()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var host = await scenario.EnrolAsync("host", activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        var agent = client.TpmAgent!;
        var keys = agent.CreateKeys();
        string sha1Ak = WithNameAlg(keys.AkPublic, 0x0004 /* TPM_ALG_SHA1 */);

        // The credential would bind the AK by a SHA-1 Name: refused before one is made, audited with the code.
        var start = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(keys with { AkPublic = sha1Ak }, WireJson.Default.ActivationRequest));
        Assert.Equal((400, "AkNameAlgRejected"), (start.Status, start.Code));
        Assert.Equal(1, await RefusedActivationsAsync(scenario, "AkNameAlgRejected"));

        // The completion refuses it too, before looking the credential up.
        var complete = await raw.PostAsync("attestation/v1/tpm/activate/complete",
            JsonSerializer.Serialize(agent.Completion(RandomNumberGenerator.GetBytes(32)) with { AkPublic = sha1Ak }, WireJson.Default.ActivationCompletion));
        Assert.Equal((400, "AkNameAlgRejected"), (complete.Status, complete.Code));
        Assert.Equal(2, await RefusedActivationsAsync(scenario, "AkNameAlgRejected"));
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));
    }

    [Fact]
    [Trait("Attack", "A23")]
    public async Task Undecodable_attestation_requests_are_audited_as_refused()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        using var raw = new RawProtocol(scenario.Service.Url);

        var notJson = await raw.PostAsync("attestation/v1/attest", "{ not json");
        Assert.Equal((400, "RequestMalformed"), (notJson.Status, notJson.Code));
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = 'RequestMalformed' AND subject = 'unknown'"));
    }

    private static string WithNameAlg(string tpmtPublic, ushort nameAlg) =>
        Convert.ToBase64String((TpmtPublic.Parse(Convert.FromBase64String(tpmtPublic)) with { NameAlg = (OpenHgs.Tpm.TpmAlgorithm)nameAlg }).ToBytes());

    [Fact]
    [Trait("Attack", "A19")]
    public async Task Log_matching_the_quote_but_no_registered_baseline_fails_the_baseline_policy()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("COS85AmdSev");   // another hardware class only
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();

        var response = await AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "PolicyFailed", "InsecureHostConfiguration");
        Assert.Contains(response.Reasons, r => r.Policy == "Hgs_BaselineMatch");
        Assert.DoesNotContain(response.Reasons, r => r.Policy == "Hgs_SecureBootEnabled");

        // Its hardware class registered: the next attestation passes under the new policy version.
        var added = await scenario.AddBaselineAsync("Rhel8GCE");
        var passed = await client.AttestAsync(CancellationToken.None);
        Assert.True(passed.Passed);
        Assert.Equal(added.PolicyVersion, passed.Response.PolicyVersion);
    }

    [Fact]
    [Trait("Attack", "A20")]
    public async Task Host_key_not_certified_is_refused()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();

        var evidence = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        evidence = evidence with { Tpm = evidence.Tpm! with { Certify = null, CertifySignature = null } };
        await AssertRefusedAsync(scenario, client, evidence, "HostKeyNotCertified", "InvalidEvidence");
    }

    public static TheoryData<string> WeakHostKeys => new() { "not-fixedTPM", "sign-and-decrypt", "userWithAuth" };

    [Theory]
    [Trait("Attack", "A21")]
    [MemberData(nameof(WeakHostKeys))]
    public async Task Host_key_certified_but_not_fixedTPM_and_decrypt_only_is_refused(string kind)
    {
        // Bound to the boot like the client's own key, so only the attribute named is wrong. "userWithAuth" is the template
        // of clients before design change 72: usable with its empty authValue whatever the PCRs hold.
        TpmtPublic Template(byte[] policy)
        {
            var bound = TpmTemplates.HostEncryptionRsa2048(policy);
            return bound with
            {
                Attributes = kind switch
                {
                    "not-fixedTPM" => ObjectAttributes.SensitiveDataOrigin | ObjectAttributes.Decrypt,
                    "sign-and-decrypt" => bound.Attributes | ObjectAttributes.Sign,
                    _ => bound.Attributes | ObjectAttributes.UserWithAuth,
                },
            };
        }

        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();

        var refused = await AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None), hostKeyTemplate: Template), "HostKeyAttributesRejected", "InvalidEvidence");
        if (kind == "userWithAuth")
        {
            Assert.Contains("UserWithAuth", refused.Reasons[0].Message, StringComparison.Ordinal);
        }
    }

    public static TheoryData<string> UnboundHostKeys => new() { "no-policy", "other-pcr-values", "fewer-pcrs" };

    [Theory]
    [Trait("Attack", "A108")]
    [MemberData(nameof(UnboundHostKeys))]
    public async Task Host_key_not_bound_to_the_attested_boot_is_refused(string kind)
    {
        // Keys the TPM would let decrypt in another boot: no policy at all, PolicyPCR over other values of the quoted PCRs,
        // or over fewer PCRs than the quote covers (this log's PCR 14 left out). Each is otherwise the client's own key.
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        var quoted = AttestedPcrs.Indices(EventLogParser.Parse(TestData.ReadLog("Rhel8GCE")));
        Assert.Contains(14, quoted);
        var current = client.TpmAgent!.ReadPcrs(TpmAlgorithm.Sha256, quoted);
        byte[] policy = kind switch
        {
            "no-policy" => [],
            "other-pcr-values" => PcrPolicy.Digest(TpmAlgorithm.Sha256, PcrSelection.Create(TpmAlgorithm.Sha256, quoted), quoted.ToDictionary(p => p, _ => new byte[32])),
            _ => PcrPolicy.Digest(TpmAlgorithm.Sha256, PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1, 2, 3, 4, 5, 6, 7]), current),
        };

        await AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None),
            hostKeyTemplate: _ => TpmTemplates.HostEncryptionRsa2048(policy)), "HostKeyNotBoundToBoot", "InvalidEvidence");
    }

    /// <summary>Submits; asserts the refusal's status and first reason, no certificate, no state change, and a refused audit record.</summary>
    internal static async Task<AttestResponse> AssertRefusedAsync(TpmScenario scenario, GuardedHostClient client, AttestRequest evidence, string code, string status)
    {
        const string State = "SELECT (SELECT COUNT(*) FROM hosts) * 1000000 + (SELECT COUNT(*) FROM tpm_attestation_keys) * 1000 + (SELECT COUNT(*) FROM baselines)";
        long before = await scenario.Service.ExecuteSqlAsync(State);
        long refusedBefore = await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE outcome = 'refused'");

        var outcome = await client.SubmitAsync(evidence, CancellationToken.None);

        Assert.False(outcome.Passed);
        Assert.Null(outcome.HealthCertificate);
        Assert.Equal(status, outcome.Response.Status);
        Assert.Equal(code, outcome.Response.Reasons[0].Code);
        Assert.Equal(before, await scenario.Service.ExecuteSqlAsync(State));
        Assert.Equal(refusedBefore + 1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE outcome = 'refused'"));
        return outcome.Response;
    }

    /// <summary>Changes the event's SHA-256 digest (the log now claims a different boot component was loaded).</summary>
    private static byte[] Altered(byte[] log, TcgEvent victim)
    {
        byte[] copy = [.. log];
        var digest = victim.Digests[OpenHgs.Tpm.TpmAlgorithm.Sha256];
        int at = copy.AsSpan(victim.Offset, victim.Size).IndexOf(digest);
        Assert.True(at >= 0);
        copy[victim.Offset + at] ^= 0x01;
        return copy;
    }

    private static byte[] Swapped(byte[] log, TcgEvent first, TcgEvent second)
    {
        Assert.True(first.Offset + first.Size <= second.Offset);
        return [.. log[..first.Offset], .. log[second.Offset..(second.Offset + second.Size)], .. log[(first.Offset + first.Size)..second.Offset],
            .. log[first.Offset..(first.Offset + first.Size)], .. log[(second.Offset + second.Size)..]];
    }

    private static readonly TimeSpan TpmActivationLifetime = OpenHgs.Service.Attestation.Tpm.ActivationCredentials.Lifetime;

    private static Task<long> RefusedActivationsAsync(TpmScenario scenario, string code) =>
        scenario.Service.ExecuteSqlAsync($"SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.tpm.activate' AND outcome = 'refused' AND reason = '{code}'");
}
