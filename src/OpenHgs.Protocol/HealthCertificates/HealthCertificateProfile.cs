using System.Formats.Asn1;

namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>
/// The health certificate's private extension, under the UUID arc (no registration needed):
/// <c>2.25.193554364747792637888867372843937242958</c> (UUID 919d36f6-2697-4299-903d-143331b31f4e).
/// DER: <c>HealthVerdict ::= SEQUENCE { version INTEGER (1), mode UTF8String, policyVersion INTEGER,
/// evidenceDigest OCTET STRING (32), hostName UTF8String, issuedAt GeneralizedTime }</c>.
/// </summary>
public static class HealthCertificateProfile
{
    public const string VerdictExtensionOid = "2.25.193554364747792637888867372843937242958";

    /// <summary>Clock-skew allowance: certificates become valid this long before they are issued.</summary>
    public static readonly TimeSpan NotBeforeSkew = TimeSpan.FromMinutes(5);

    /// <summary>Default validity, as HGS (8 hours).</summary>
    public static readonly TimeSpan DefaultValidity = TimeSpan.FromHours(8);

    public static byte[] EncodeVerdict(HealthClaims claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            writer.WriteCharacterString(UniversalTagNumber.UTF8String, claims.Mode.ToString());
            writer.WriteInteger(claims.PolicyVersion);
            writer.WriteOctetString(claims.EvidenceDigest);
            writer.WriteCharacterString(UniversalTagNumber.UTF8String, claims.HostName);
            writer.WriteGeneralizedTime(claims.IssuedAt.ToUniversalTime(), omitFractionalSeconds: true);
        }

        return writer.Encode();
    }

    /// <summary>Decodes the extension; throws <see cref="AsnContentException"/> or <see cref="FormatException"/> on anything unexpected.</summary>
    public static HealthClaims DecodeVerdict(ReadOnlyMemory<byte> der)
    {
        var reader = new AsnReader(der, AsnEncodingRules.DER);
        var sequence = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        if (!sequence.TryReadInt32(out int version) || version != 1)
        {
            throw new FormatException("Unsupported health verdict version.");
        }

        string modeText = sequence.ReadCharacterString(UniversalTagNumber.UTF8String);
        if (!Enum.TryParse(modeText, ignoreCase: false, out AttestationMode mode) || !Enum.IsDefined(mode))
        {
            throw new FormatException($"Unknown attestation mode '{modeText}'.");
        }

        if (!sequence.TryReadInt32(out int policyVersion))
        {
            throw new FormatException("Policy version out of range.");
        }

        byte[] digest = sequence.ReadOctetString();
        string host = sequence.ReadCharacterString(UniversalTagNumber.UTF8String);
        var issuedAt = sequence.ReadGeneralizedTime();
        sequence.ThrowIfNotEmpty();
        return digest.Length == 32
            ? new HealthClaims(mode, policyVersion, digest, host, issuedAt)
            : throw new FormatException("Evidence digest must be 32 bytes.");
    }
}
