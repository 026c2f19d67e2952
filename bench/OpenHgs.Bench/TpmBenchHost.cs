using System.Diagnostics;
using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Bench;

/// <summary>
/// One TPM guarded host of the bench: a private swtpm (EK certificate from its own local CA, as in the end-to-end
/// tests) whose SHA-256 PCRs were extended with a real machine's event log, and a client state folder configured for
/// TPM mode. Enrolment uses the real client (<see cref="TpmHostAgent.Identify"/>, <see cref="GuardedHostClient.ActivateTpmAsync"/>).
/// </summary>
public sealed class TpmBenchHost : IDisposable
{
    private readonly SwtpmFixture _tpm;

    private TpmBenchHost(string name, SwtpmFixture tpm, string stateDirectory, byte[] eventLog)
    {
        Name = name;
        _tpm = tpm;
        StateDirectory = stateDirectory;
        EventLog = eventLog;
    }

    public string Name { get; }

    public string StateDirectory { get; }

    public byte[] EventLog { get; }

    public string RootCertificatePem => File.ReadAllText(_tpm.RootCertificatePath);

    public string IssuerCertificatePem => File.ReadAllText(_tpm.IssuerCertificatePath);

    /// <summary>Starts swtpm (swtpm_setup with an EK certificate), "boots" it by extending <paramref name="eventLog"/>, writes the client configuration.</summary>
    public static TpmBenchHost Start(string name, byte[] eventLog, string root, Uri service)
    {
        ArgumentNullException.ThrowIfNull(eventLog);
        ArgumentNullException.ThrowIfNull(service);
        var tpm = new SwtpmFixture();
        try
        {
            using (var client = tpm.CreateClient())
            {
                var parsed = EventLogParser.Parse(eventLog);
                client.ExtendEventLog(parsed, parsed.Banks);
            }

            string state = Path.Combine(root, "tpm-hosts", name);
            Directory.CreateDirectory(state);
            string log = Path.Combine(state, "binary_bios_measurements");
            File.WriteAllBytes(log, eventLog);
            string url = service.ToString().TrimEnd('/');
            new ClientConfiguration([url], [url], null, tpm.Specification, log).Save(state);
            return new TpmBenchHost(name, tpm, state, eventLog);
        }
        catch
        {
            tpm.Dispose();
            throw;
        }
    }

    /// <summary>Registers the host by its EK (the admin's <c>hosts add-tpm</c>) and runs the client's AK activation.</summary>
    public async Task EnrolAsync(TpmAdminClient admin, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(admin);
        using var client = new GuardedHostClient(StateDirectory);
        await admin.AddHostAsync(Name, client.TpmAgent!.Identify(), allowWithoutCertificate: false, cancellationToken).ConfigureAwait(false);
        await client.ActivateTpmAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One attestation exactly as <c>hgs client attest</c> makes it (challenge, evidence from the TPM, attest); throws unless it passed.</summary>
    public async Task<TimeSpan> AttestWithClientAsync(CancellationToken cancellationToken)
    {
        using var client = new GuardedHostClient(StateDirectory);
        var challenge = await client.ChallengeAsync(cancellationToken).ConfigureAwait(false);
        long start = Stopwatch.GetTimestamp();
        var request = client.BuildEvidence(challenge);
        var evidenceTime = Stopwatch.GetElapsedTime(start);
        var outcome = await client.SubmitAsync(request, cancellationToken).ConfigureAwait(false);
        return outcome.Passed
            ? evidenceTime
            : throw new InvalidOperationException($"TPM attestation of {Name} answered {outcome.Response.Status}: {string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}"))}");
    }

    /// <summary>A TPM connection with the SRK, AK and host key loaded, to make evidence for many nonces.</summary>
    public EvidenceSession OpenSession() => new(_tpm.Specification, StateDirectory, EventLog);

    public void Dispose() => _tpm.Dispose();

    /// <summary>
    /// Makes the same evidence as <see cref="TpmHostAgent.Attest"/> (the same TPM2_Quote of <c>AttestedPcrs.ForEveryBank(log)</c>, the banks the bench swtpm has active,
    /// and TPM2_Certify of the host key, both over the nonce, the same fields), but keeps the SRK, AK and host key
    /// loaded between nonces: the client re-creates the SRK (a primary RSA key derived in the TPM) for every
    /// attestation, which costs swtpm ≈20 ms and changes nothing in the evidence the service checks.
    /// </summary>
    public sealed class EvidenceSession : IDisposable
    {
        private readonly TpmClient _client;
        private readonly TpmObject _srk;
        private readonly TpmObject _ak;
        private readonly TpmObject _hostKey;
        private readonly IReadOnlyList<PcrSelection> _selection;
        private readonly string _ekPublic;
        private readonly string _akPublic;
        private readonly string _hostKeyPublic;
        private readonly string _eventLog;

        internal EvidenceSession(string specification, string state, byte[] eventLog)
        {
            _client = TpmClient.Open(specification);
            try
            {
                _client.Startup();
                _srk = _client.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
                _ak = _client.Load(_srk, ReadBlob(Path.Combine(state, TpmHostAgent.AkFile)));
                _hostKey = _client.Load(_srk, ReadBlob(Path.Combine(state, TpmHostAgent.HostKeyFile)));
            }
            catch
            {
                _client.Dispose();
                throw;
            }

            _selection = AttestedPcrs.ForEveryBank(EventLogParser.Parse(eventLog));
            _ekPublic = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(state, TpmHostAgent.EkFile)));
            _akPublic = Convert.ToBase64String(_ak.Public.ToBytes());
            _hostKeyPublic = Convert.ToBase64String(_hostKey.Public.ToBytes());
            _eventLog = Convert.ToBase64String(eventLog);
        }

        /// <summary>Quote + certify over <paramref name="nonce"/>.</summary>
        public TpmEvidence Attest(ReadOnlySpan<byte> nonce)
        {
            var quote = _client.Quote(_ak, nonce, _selection);
            var certify = _client.Certify(_hostKey, _ak, nonce);
            return new TpmEvidence(
                _ekPublic,
                _akPublic,
                Convert.ToBase64String(quote.AttestBytes),
                Convert.ToBase64String(quote.Signature.ToBytes()),
                _hostKeyPublic,
                Convert.ToBase64String(certify.AttestBytes),
                Convert.ToBase64String(certify.Signature.ToBytes()),
                _eventLog);
        }

        public void Dispose()
        {
            _hostKey.Dispose();
            _ak.Dispose();
            _srk.Dispose();
            _client.Dispose();
        }

        private static CreatedKey ReadBlob(string path)
        {
            var reader = new TpmReader(File.ReadAllBytes(path));
            return new CreatedKey(reader.ReadSized("private"), TpmtPublic.ReadSized(reader));
        }
    }
}
