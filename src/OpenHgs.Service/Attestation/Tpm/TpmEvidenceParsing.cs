using System.Security.Cryptography;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>Decoding of base64 TPM structures from requests; malformed input is a 400 naming the field.</summary>
internal static class TpmEvidenceParsing
{
    /// <summary>Attributes an attestation key must have: a TPM-generated, non-duplicable, restricted signing key.</summary>
    public const ObjectAttributes AkRequired = ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent
        | ObjectAttributes.SensitiveDataOrigin | ObjectAttributes.Restricted | ObjectAttributes.Sign;

    /// <summary>
    /// True for the nameAlgs accepted for the AK and the certified host key: SHA-256, SHA-384, SHA-512. A key's Name
    /// (nameAlg || H(TPMT_PUBLIC)) is all that MakeCredential binds the AK by and all that TPM2_Certify attests of the
    /// host key; a SHA-1 Name would let a key chosen by a collision stand for another.
    /// </summary>
    public static bool IsAcceptedNameAlg(TpmAlgorithm nameAlg) => nameAlg is TpmAlgorithm.Sha256 or TpmAlgorithm.Sha384 or TpmAlgorithm.Sha512;

    /// <summary>Why <paramref name="key"/>'s nameAlg is refused (<see cref="IsAcceptedNameAlg"/>).</summary>
    public static string NameAlgRefusal(string what, TpmtPublic key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return $"The {what}'s nameAlg is {key.NameAlg.Name()}; its Name must be computed with SHA-256, SHA-384 or SHA-512.";
    }

    /// <summary>A base64 evidence field (<see cref="RequestBase64"/>, refused as <c>EvidenceMalformed</c>).</summary>
    public static byte[] Bytes(string? text, string field, int maxBytes) => RequestBase64.Decode(text, field, maxBytes, RequestFieldRefusals.Evidence);

    public static (TpmtPublic Public, byte[] Bytes) Public(string? text, string field)
    {
        byte[] bytes = Bytes(text, field, 1024);
        TpmtPublic parsed;
        try
        {
            parsed = TpmtPublic.Parse(bytes);
        }
        catch (TpmFormatException ex)
        {
            throw ServiceException.BadRequest("EvidenceMalformed", $"{field}: not a TPMT_PUBLIC ({ex.Message}).");
        }

        // TPM_ALG_NULL (legal for some TPM objects) or a hash this process lacks (SM3) gives the key no computable Name;
        // every key the service is sent has one computed (credential binding, certification), so refuse it here.
        if (!parsed.NameAlg.CanHash())
        {
            throw ServiceException.BadRequest("EvidenceMalformed", $"{field}: nameAlg {parsed.NameAlg.Name()} is not a hash this service computes Names with.");
        }

        return (parsed, bytes);
    }

    /// <summary>The EK's identity in the hosts table: SHA-256 of its TPMT_PUBLIC, lower-case hex.</summary>
    public static string EkThumbprint(ReadOnlySpan<byte> ekPublic) => Convert.ToHexStringLower(SHA256.HashData(ekPublic));

    /// <summary>Refuses EKs the service cannot make credentials for (RSA storage keys with AES-CFB, fixedTPM).</summary>
    public static void ValidateEk(TpmtPublic ek)
    {
        const ObjectAttributes required = ObjectAttributes.FixedTpm | ObjectAttributes.Restricted | ObjectAttributes.Decrypt;
        if (ek.Rsa is null || (ek.Attributes & required) != required || (ek.Attributes & ObjectAttributes.Sign) != 0)
        {
            throw ServiceException.BadRequest("EkUnsupported", "The EK must be an RSA fixedTPM restricted decryption key (TCG EK template L-1).");
        }
    }
}
