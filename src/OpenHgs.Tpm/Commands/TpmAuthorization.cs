using System.Security.Cryptography;
using OpenHgs.Tpm.Marshalling;

namespace OpenHgs.Tpm.Commands;

/// <summary>An authorisation for one handle of a command (one TPMS_AUTH_COMMAND).</summary>
public abstract record TpmAuthorization
{
    /// <summary>Password authorisation with the empty password (the default for keys created here).</summary>
    public static TpmAuthorization EmptyPassword { get; } = new PasswordAuthorization([]);

    internal abstract void WriteTo(TpmWriter writer);
}

/// <summary>A TPM_RS_PW password authorisation. The password is sent in clear: use only with local TPMs.</summary>
public sealed record PasswordAuthorization(byte[] Password) : TpmAuthorization
{
    internal override void WriteTo(TpmWriter writer) =>
        writer.WriteUInt32(TpmHandles.PasswordSession).WriteSized([]).WriteByte(0x01).WriteSized(Password);
}

/// <summary>A policy session whose policy is already satisfied (e.g. after TPM2_PolicySecret); no HMAC.</summary>
public sealed record PolicySessionAuthorization(TpmSession Session) : TpmAuthorization
{
    internal override void WriteTo(TpmWriter writer) =>
        writer.WriteUInt32(Session.Handle).WriteSized(RandomNumberGenerator.GetBytes(16)).WriteByte(0x01).WriteSized([]);
}
