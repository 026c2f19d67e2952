using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Client.Tpm;

/// <summary>
/// The guarded host's TPM side of attestation. Keys: the EK (TCG template L-1, re-created on demand), an AK
/// (restricted RSA signing key under the SRK) and the host encryption key (RSA-2048, fixedTPM, decrypt-only, under
/// the SRK). The AK and host key exist outside the TPM only as SRK-wrapped blobs in the state folder
/// (<see cref="AkFile"/>, <see cref="HostKeyFile"/>, mode 0600); their private halves never leave the TPM, so transport
/// keys released to the host key are decrypted inside the TPM (TPM2_RSA_Decrypt, OAEP).
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
    /// Creates the AK and the host encryption key under the SRK and saves their blobs (replacing earlier ones).
    /// <paramref name="hostKeyTemplate"/> overrides the decrypt-only template (interop and negative tests only: the
    /// service refuses keys that are not fixedTPM and decrypt-only).
    /// </summary>
    public ActivationRequest CreateKeys(TpmtPublic? hostKeyTemplate = null)
    {
        using var tpm = Open();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        var ak = tpm.Create(srk, TpmTemplates.AkRsa2048);
        var hostKey = tpm.Create(srk, hostKeyTemplate ?? TpmTemplates.HostEncryptionRsa2048);
        byte[] ekPublic;
        using (var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048))
        {
            ekPublic = ek.Public.ToBytes();
        }

        Directory.CreateDirectory(_state);
        OwnerOnlyFile.Replace(Path.Combine(_state, EkFile), ekPublic);
        OwnerOnlyFile.Replace(Path.Combine(_state, AkFile), Save(ak));
        OwnerOnlyFile.Replace(Path.Combine(_state, HostKeyFile), Save(hostKey));
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
    /// log itself. <paramref name="banks"/> overrides the banks quoted (negative tests only: the service refuses a quote
    /// that omits a bank).
    /// </summary>
    public TpmEvidence Attest(ReadOnlySpan<byte> nonce, byte[] eventLog, IReadOnlyList<int> pcrs, IReadOnlyList<TpmAlgorithm>? banks = null)
    {
        ArgumentNullException.ThrowIfNull(eventLog);
        ArgumentNullException.ThrowIfNull(pcrs);
        using var tpm = Open();
        var quoted = banks ?? QuotableBanks(tpm);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, LoadBlob(AkFile));
        using var hostKey = tpm.Load(srk, LoadBlob(HostKeyFile));
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

    /// <summary>Decrypts a transport key wrapped to the host key, inside the TPM (TPM2_RSA_Decrypt, OAEP with <paramref name="oaepHash"/>).</summary>
    public byte[] Decrypt(byte[] cipherText, TpmAlgorithm oaepHash)
    {
        ArgumentNullException.ThrowIfNull(cipherText);
        using var tpm = Open();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var hostKey = tpm.Load(srk, LoadBlob(HostKeyFile));
        return tpm.RsaDecrypt(hostKey, cipherText, oaepHash);
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
