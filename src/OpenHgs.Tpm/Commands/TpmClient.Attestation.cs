using System.Security.Cryptography;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Commands;

public sealed partial class TpmClient
{
    /// <summary>
    /// TPM2_Quote over <paramref name="selection"/> with <paramref name="qualifyingData"/> (the server's nonce)
    /// as extraData, signed by <paramref name="signingKey"/> with its own scheme (TPM_ALG_NULL inScheme).
    /// </summary>
    public TpmAttestation Quote(TpmObject signingKey, ReadOnlySpan<byte> qualifyingData, IReadOnlyList<PcrSelection> selection,
        TpmAuthorization? keyAuth = null)
    {
        ArgumentNullException.ThrowIfNull(signingKey);
        ArgumentNullException.ThrowIfNull(selection);
        var nonce = qualifyingData.ToArray();
        var r = Execute(TpmCommandCode.Quote, [signingKey.Handle], [keyAuth ?? TpmAuthorization.EmptyPassword], w =>
        {
            w.WriteSized(nonce);
            w.WriteAlgorithm(TpmAlgorithm.Null);
            PcrSelection.WriteList(w, selection);
        });
        return ReadAttestation(r, "Quote");
    }

    /// <summary>
    /// TPM2_Certify: <paramref name="signingKey"/> (the AK) certifies that <paramref name="certified"/> is loaded
    /// in this TPM; <paramref name="qualifyingData"/> becomes extraData.
    /// </summary>
    public TpmAttestation Certify(TpmObject certified, TpmObject signingKey, ReadOnlySpan<byte> qualifyingData,
        TpmAuthorization? certifiedAuth = null, TpmAuthorization? signingAuth = null)
    {
        ArgumentNullException.ThrowIfNull(certified);
        ArgumentNullException.ThrowIfNull(signingKey);
        var nonce = qualifyingData.ToArray();
        var r = Execute(TpmCommandCode.Certify, [certified.Handle, signingKey.Handle],
            [certifiedAuth ?? TpmAuthorization.EmptyPassword, signingAuth ?? TpmAuthorization.EmptyPassword], w =>
            {
                w.WriteSized(nonce);
                w.WriteAlgorithm(TpmAlgorithm.Null);
            });
        return ReadAttestation(r, "Certify");
    }

    /// <summary>
    /// TPM2_StartAuthSession: an unbound, unsalted session (policy by default) with <paramref name="hash"/>.
    /// Dispose the session to flush it.
    /// </summary>
    public TpmSession StartAuthSession(bool policy = true, TpmAlgorithm hash = TpmAlgorithm.Sha256)
    {
        var nonceCaller = RandomNumberGenerator.GetBytes(hash.DigestSize());
        var r = Execute(TpmCommandCode.StartAuthSession, [TpmHandles.Null, TpmHandles.Null], [], w =>
        {
            w.WriteSized(nonceCaller);
            w.WriteSized([]);                       // encryptedSalt
            w.WriteByte(policy ? (byte)0x01 : (byte)0x00);
            w.WriteAlgorithm(TpmAlgorithm.Null);    // symmetric
            w.WriteAlgorithm(hash);
        }, 1, out var handles);
        try
        {
            var nonceTpm = r.ReadSized("nonceTPM", 64);
            r.EnsureEnd("StartAuthSession response");
            return new TpmSession(this, handles[0], nonceTpm);
        }
        catch
        {
            TryFlush(handles[0]);
            throw;
        }
    }

    /// <summary>
    /// TPM2_PolicySecret: satisfies PolicySecret(<paramref name="authHandle"/>) in <paramref name="session"/>
    /// (the EK's policy uses <see cref="TpmHandles.Endorsement"/>) with the entity's password.
    /// </summary>
    public void PolicySecret(TpmSession session, uint authHandle = TpmHandles.Endorsement, TpmAuthorization? auth = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        var r = Execute(TpmCommandCode.PolicySecret, [authHandle, session.Handle], [auth ?? TpmAuthorization.EmptyPassword], w =>
        {
            w.WriteSized([]);   // nonceTPM
            w.WriteSized([]);   // cpHashA
            w.WriteSized([]);   // policyRef
            w.WriteUInt32(0);   // expiration
        });
        r.ReadSized("timeout");
        SkipTicket(r);
        r.EnsureEnd("PolicySecret response");
    }

    /// <summary>
    /// TPM2_PolicyPCR with an empty pcrDigest: the TPM extends <paramref name="session"/>'s policy with the digest of the
    /// selected PCRs' current values, so a later command authorised by the session succeeds only if those values are the
    /// ones the object's authPolicy was computed over (<see cref="Verification.PcrPolicy"/>); a PCR changed in between
    /// fails the command with TPM_RC_PCR_CHANGED.
    /// </summary>
    public void PolicyPcr(TpmSession session, PcrSelection selection)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(selection);
        Execute(TpmCommandCode.PolicyPcr, [session.Handle], [], w =>
        {
            w.WriteSized([]);   // pcrDigest: the TPM uses the current values
            PcrSelection.WriteList(w, [selection]);
        }).EnsureEnd("PolicyPCR response");
    }

    /// <summary>
    /// TPM2_ActivateCredential: recovers the credential that MakeCredential bound to <paramref name="activated"/>'s
    /// Name and <paramref name="ek"/>. Starts, satisfies (PolicySecret endorsement) and flushes the EK policy session.
    /// </summary>
    public byte[] ActivateCredential(TpmObject activated, TpmObject ek, IdObject credential,
        TpmAuthorization? activatedAuth = null, TpmAuthorization? endorsementAuth = null)
    {
        ArgumentNullException.ThrowIfNull(activated);
        ArgumentNullException.ThrowIfNull(ek);
        ArgumentNullException.ThrowIfNull(credential);
        using var session = StartAuthSession(policy: true, ek.Public.NameAlg);
        PolicySecret(session, TpmHandles.Endorsement, endorsementAuth);
        var r = Execute(TpmCommandCode.ActivateCredential, [activated.Handle, ek.Handle],
            [activatedAuth ?? TpmAuthorization.EmptyPassword, new PolicySessionAuthorization(session)], w =>
            {
                w.WriteSized(credential.CredentialBlob);
                w.WriteSized(credential.Secret);
            });
        var certInfo = r.ReadSized("certInfo", 64);
        r.EnsureEnd("ActivateCredential response");
        return certInfo;
    }

    /// <summary>
    /// TPM2_MakeCredential performed by this TPM with the loaded public key <paramref name="ek"/> (for tests and
    /// cross-checks; the server uses its own software MakeCredential).
    /// </summary>
    public IdObject MakeCredential(TpmObject ek, ReadOnlySpan<byte> credential, ReadOnlySpan<byte> objectName)
    {
        ArgumentNullException.ThrowIfNull(ek);
        var cred = credential.ToArray();
        var name = objectName.ToArray();
        var r = Execute(TpmCommandCode.MakeCredential, [ek.Handle], [], w => w.WriteSized(cred).WriteSized(name));
        var blob = r.ReadSized("credentialBlob");
        var secret = r.ReadSized("secret");
        r.EnsureEnd("MakeCredential response");
        return new IdObject(blob, secret);
    }

    private static TpmAttestation ReadAttestation(TpmReader r, string command)
    {
        var attest = r.ReadSized("TPM2_ATTEST");
        var signature = TpmtSignature.Read(r);
        r.EnsureEnd(command + " response");
        return new TpmAttestation(attest, TpmsAttest.Parse(attest), signature);
    }
}
