using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Client.Tpm;

/// <summary>
/// The guarded host's TPM side of attestation. Keys: the EK (TCG template L-1, re-created on demand), an AK
/// (restricted RSA signing key under the SRK) and the host encryption key (RSA-2048, fixedTPM, decrypt-only, under
/// the SRK). The AK and host key exist outside the TPM only as SRK-wrapped blobs in the state folder
/// (<see cref="AkFile"/>, <see cref="HostKeyFile"/>, mode 0600); their private halves never leave the TPM, so transport
/// keys released to the host key are decrypted inside the TPM (TPM2_RSA_Decrypt, OAEP). The host key is bound to the boot
/// it is attested in (design change 72): its authPolicy is PolicyPCR over the quoted PCRs' values of that boot, so the TPM
/// decrypts with it only while the PCRs still hold them. It is made at the first attestation, and made again whenever
/// the PCRs differ from the ones it is bound to (another boot, a kernel update), which drops the saved health
/// certificate naming the old key.
/// </summary>
public sealed class TpmHostAgent
{
    public const string EkFile = "tpm-ek.pub";
    public const string AkFile = "tpm-ak.blob";
    public const string HostKeyFile = "tpm-hostkey.blob";

    private readonly string _tpm;
    private readonly string _state;

    public TpmHostAgent(string tpmSpecification, string stateDirectory)
    {
        ArgumentNullException.ThrowIfNull(tpmSpecification);
        ArgumentNullException.ThrowIfNull(stateDirectory);
        _tpm = tpmSpecification;
        _state = stateDirectory;
    }

    /// <summary>The TPM's identity for the admin: EK public area and the EK certificate from NV when the TPM has one.</summary>
    public TpmIdentity Identify()
    {
        using var tpm = Open();
        using var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048);
        byte[]? certificate = tpm.ReadEkCertificate();
        return new TpmIdentity(1, Convert.ToBase64String(ek.Public.ToBytes()), certificate is null ? null : Convert.ToBase64String(TrimDer(certificate)));
    }

    /// <summary>
    /// Creates the AK under the SRK and saves its blob (replacing an earlier one). An earlier host key and the health
    /// certificate naming it are removed: the next attestation makes a host key bound to the boot it attests.
    /// </summary>
    public ActivationRequest CreateKeys()
    {
        using var tpm = Open();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        var ak = tpm.Create(srk, TpmTemplates.AkRsa2048);
        byte[] ekPublic;
        using (var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048))
        {
            ekPublic = ek.Public.ToBytes();
        }

        Directory.CreateDirectory(_state);
        OwnerOnlyFile.Replace(Path.Combine(_state, EkFile), ekPublic);
        OwnerOnlyFile.Replace(Path.Combine(_state, AkFile), Save(ak));
        DropHostKey();
        return new ActivationRequest(Convert.ToBase64String(ekPublic), Convert.ToBase64String(ak.Public.ToBytes()));
    }

    /// <summary>TPM2_ActivateCredential with the EK (policy session) and the saved AK: returns the credential the service bound to both.</summary>
    public byte[] Activate(ActivationChallenge challenge)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        using var tpm = Open();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, LoadBlob(AkFile));
        srk.Dispose();   // swtpm has 3 transient slots: EK and AK are enough from here
        using var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048);
        return tpm.ActivateCredential(ak, ek, new IdObject(ResponseBase64.Decode(challenge.CredentialBlob, "credentialBlob"), ResponseBase64.Decode(challenge.EncryptedSecret, "encryptedSecret")));
    }

    /// <summary>The completion message for <paramref name="credential"/>.</summary>
    public ActivationCompletion Completion(byte[] credential) =>
        new(Convert.ToBase64String(ReadState(EkFile)), Convert.ToBase64String(LoadBlob(AkFile).Public.ToBytes()), Convert.ToBase64String(credential));

    /// <summary>
    /// Evidence for one attestation: a quote over <paramref name="nonce"/> of <paramref name="pcrs"/> (the PCRs the service
    /// requires for this log: 0-7 and every static PCR the log extends) in every PCR bank this TPM implements — the TPM
    /// signs an empty selection for a bank it does not have active, so the service sees which banks are active and can
    /// require each of them to replay from the log — the AK's certification of the host key over the same nonce, and the
    /// log itself. The host key certified is the one bound to this boot's values of <paramref name="pcrs"/>
    /// (<see cref="HostKeyForThisBoot"/>). <paramref name="banks"/> overrides the banks quoted (negative tests only: the
    /// service refuses a quote that omits a bank); <paramref name="hostKeyTemplate"/> makes an unsaved host key from a
    /// template given this boot's policy digest instead (negative tests only: the service refuses keys that are not
    /// fixedTPM, decrypt-only and bound to the boot).
    /// </summary>
    public TpmEvidence Attest(ReadOnlySpan<byte> nonce, byte[] eventLog, IReadOnlyList<int> pcrs, IReadOnlyList<TpmAlgorithm>? banks = null,
        Func<byte[], TpmtPublic>? hostKeyTemplate = null)
    {
        ArgumentNullException.ThrowIfNull(eventLog);
        ArgumentNullException.ThrowIfNull(pcrs);
        using var tpm = Open();
        var quoted = banks ?? QuotableBanks(tpm);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, LoadBlob(AkFile));
        var boundKey = hostKeyTemplate is null
            ? BootBoundHostKey(tpm, srk, pcrs)
            : tpm.Create(srk, hostKeyTemplate(BootPolicy(tpm, BootSelection(tpm, pcrs))));
        using var hostKey = tpm.Load(srk, boundKey);
        var quote = tpm.Quote(ak, nonce, quoted.Select(b => PcrSelection.Create(b, pcrs)).ToList());
        var certify = tpm.Certify(hostKey, ak, nonce);
        return new TpmEvidence(
            Convert.ToBase64String(ReadState(EkFile)),
            Convert.ToBase64String(ak.Public.ToBytes()),
            Convert.ToBase64String(quote.AttestBytes),
            Convert.ToBase64String(quote.Signature.ToBytes()),
            Convert.ToBase64String(hostKey.Public.ToBytes()),
            Convert.ToBase64String(certify.AttestBytes),
            Convert.ToBase64String(certify.Signature.ToBytes()),
            Convert.ToBase64String(eventLog));
    }

    /// <summary>
    /// Decrypts a transport key wrapped to the host key, inside the TPM (TPM2_RSA_Decrypt, OAEP with
    /// <paramref name="oaepHash"/>), authorised by a policy session satisfying the key's PolicyPCR. The TPM refuses it
    /// when the PCRs no longer hold the boot the key is bound to: <c>HostKeyBootChanged</c>.
    /// </summary>
    public byte[] Decrypt(byte[] cipherText, TpmAlgorithm oaepHash)
    {
        ArgumentNullException.ThrowIfNull(cipherText);
        var (key, selection) = LoadHostKey() ?? throw new HgsClientException("TpmNotEnrolled",
            $"'{Path.Combine(_state, HostKeyFile)}' does not exist; attest first (the host key is made by the first attestation in a boot).");
        if (selection is null)
        {
            throw new HgsClientException("HostKeyBootChanged",
                "The host key was made by a client before design change 72 and is bound to no boot; attest again to make one bound to this boot.");
        }

        using var tpm = Open();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var hostKey = tpm.Load(srk, key);
        using var session = tpm.StartAuthSession(policy: true, hostKey.Public.NameAlg);
        try
        {
            tpm.PolicyPcr(session, selection);
            return tpm.RsaDecrypt(hostKey, cipherText, oaepHash, keyAuth: new PolicySessionAuthorization(session));
        }
        catch (TpmException ex) when (ex.Code is TpmRc.PolicyFail or TpmRc.PcrChanged)
        {
            throw new HgsClientException("HostKeyBootChanged",
                $"The TPM refuses the host key: PCR {selection.Hash.Name()}:{string.Join(",", selection.Pcrs)} no longer hold the boot the key is bound to ({ex.Message}). Attest again in this boot.");
        }
    }

    /// <summary>
    /// The public area of the host key bound to this boot's values of <paramref name="pcrs"/> (the quote's PCRs): the saved
    /// one while its policy matches them, else a new one, saved, with the health certificate naming the old one removed.
    /// </summary>
    public TpmtPublic HostKeyForThisBoot(IReadOnlyList<int> pcrs)
    {
        ArgumentNullException.ThrowIfNull(pcrs);
        using var tpm = Open();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        return BootBoundHostKey(tpm, srk, pcrs).Public;
    }

    private CreatedKey BootBoundHostKey(TpmClient tpm, TpmObject srk, IReadOnlyList<int> pcrs)
    {
        var selection = BootSelection(tpm, pcrs);
        var policy = BootPolicy(tpm, selection);
        if (LoadHostKey() is ({ } saved, { } savedSelection) && savedSelection.SameAs(selection) && saved.Public.AuthPolicy.AsSpan().SequenceEqual(policy))
        {
            return saved;
        }

        // Missing, made by an older client (no policy), or bound to another boot: a key only this boot can use, and no
        // certificate naming the old key (it unlocks nothing here, and an attestation must certify the new one).
        var key = tpm.Create(srk, TpmTemplates.HostEncryptionRsa2048(policy));
        DropHostKey();
        OwnerOnlyFile.Replace(Path.Combine(_state, HostKeyFile),
            TpmWriter.Marshal(w => PcrSelection.WriteList(w.WriteSized(key.Private).WriteSized(key.Public.ToBytes()), [selection])));
        return key;
    }

    /// <summary>
    /// The PCRs the host key is bound to: <paramref name="pcrs"/> (exactly those the quote selects) in the bank the service's
    /// policies read — SHA-256 when the TPM has it active, else SHA-1 (<see cref="AttestedPcrs.PolicyBank(IReadOnlyCollection{TpmAlgorithm})"/>),
    /// which is the bank the service checks the key's policy against.
    /// </summary>
    private static PcrSelection BootSelection(TpmClient tpm, IReadOnlyList<int> pcrs)
    {
        var active = tpm.GetPcrBanks().Where(b => b.Pcrs.Count > 0).Select(b => b.Hash).ToList();
        var bank = AttestedPcrs.PolicyBank(active)
            ?? throw new HgsClientException("PcrBankUnsupported", "The TPM has neither the SHA-256 nor the SHA-1 PCR bank active.");
        return PcrSelection.Create(bank, pcrs);
    }

    private static byte[] BootPolicy(TpmClient tpm, PcrSelection selection) =>
        PcrPolicy.Digest(TpmTemplates.HostEncryptionNameAlg, selection, tpm.PcrRead(selection.Hash, selection.Pcrs));

    /// <summary>The saved host key and the selection its PolicyPCR covers (null for a key from before design change 72), or null when there is none.</summary>
    private (CreatedKey Key, PcrSelection? Selection)? LoadHostKey()
    {
        string path = Path.Combine(_state, HostKeyFile);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var r = new TpmReader(File.ReadAllBytes(path));
            var key = new CreatedKey(r.ReadSized("private"), TpmtPublic.ReadSized(r));
            if (r.Remaining == 0)
            {
                return (key, null);   // a blob written before design change 72: no PCR selection, no policy
            }

            var selections = PcrSelection.ReadList(r);
            r.EnsureEnd(HostKeyFile);
            return selections is [var selection]
                ? (key, selection)
                : throw new TpmFormatException(TpmFormatError.UnsupportedValue, 0, $"the host key's policy must select one PCR bank, not {selections.Count}");
        }
        catch (TpmFormatException ex)
        {
            throw new HgsClientException("TpmStateInvalid", $"{path} is damaged ({ex.Message}); run 'hgs client configure --tpm' again.");
        }
    }

    /// <summary>Removes the host key and the health certificate naming it.</summary>
    private void DropHostKey()
    {
        File.Delete(Path.Combine(_state, ClientConfiguration.HealthCertificateFile));
        File.Delete(Path.Combine(_state, HostKeyFile));
    }

    /// <summary>Reads PCRs of one bank (for baselines: the log must replay to what the TPM holds).</summary>
    public IReadOnlyDictionary<int, byte[]> ReadPcrs(TpmAlgorithm bank, IEnumerable<int> pcrs)
    {
        using var tpm = Open();
        return tpm.PcrRead(bank, pcrs);
    }

    /// <summary>The PCR banks this TPM has active (allocated PCRs), for baselines.</summary>
    public IReadOnlyList<TpmAlgorithm> ActiveBanks()
    {
        using var tpm = Open();
        return tpm.GetPcrBanks().Where(b => b.Pcrs.Count > 0).Select(b => b.Hash).ToList();
    }

    /// <summary>Every bank the TPM implements whose hash this library knows (active or not: the quote shows which are active).</summary>
    private static List<TpmAlgorithm> QuotableBanks(TpmClient tpm) =>
        tpm.GetPcrBanks().Select(b => b.Hash).Where(b => b.DigestSize() > 0).Distinct().ToList();

    private TpmClient Open()
    {
        var client = TpmClient.Open(_tpm);
        client.Startup();
        return client;
    }

    private static byte[] Save(CreatedKey key) => TpmWriter.Marshal(w => w.WriteSized(key.Private).WriteSized(key.Public.ToBytes()));

    private CreatedKey LoadBlob(string file)
    {
        byte[] bytes = ReadState(file);
        try
        {
            var r = new TpmReader(bytes);
            var key = new CreatedKey(r.ReadSized("private"), TpmtPublic.ReadSized(r));
            r.EnsureEnd(file);
            return key;
        }
        catch (TpmFormatException ex)
        {
            throw new HgsClientException("TpmStateInvalid", $"{Path.Combine(_state, file)} is damaged ({ex.Message}); run 'hgs client configure --tpm' again.");
        }
    }

    private byte[] ReadState(string file)
    {
        string path = Path.Combine(_state, file);
        return File.Exists(path)
            ? File.ReadAllBytes(path)
            : throw new HgsClientException("TpmNotEnrolled", $"'{path}' does not exist; run 'hgs client configure --tpm …' first.");
    }

    /// <summary>NV indices are often larger than the certificate; keep exactly the DER SEQUENCE.</summary>
    private static byte[] TrimDer(byte[] bytes)
    {
        try
        {
            var reader = new System.Formats.Asn1.AsnReader(bytes, System.Formats.Asn1.AsnEncodingRules.DER);
            return reader.PeekEncodedValue().ToArray();
        }
        catch (System.Formats.Asn1.AsnContentException)
        {
            return bytes;
        }
    }
}
