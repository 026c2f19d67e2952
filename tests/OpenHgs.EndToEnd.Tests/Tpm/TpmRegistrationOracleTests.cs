using System.Text.Json;
using System.Text.RegularExpressions;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Design change 80: an EK's public key is not secret, so whoever holds one must not learn from attestation or the AK
/// activation's start whether that EK is registered. The admin's audit trail keeps the precise reason.
/// </summary>
public sealed partial class TpmRegistrationOracleTests
{
    [Fact]
    [Trait("Attack", "A141")]
    public async Task Attestation_and_activation_start_answer_alike_whether_the_EK_is_registered_while_the_audit_keeps_which()
    {
        await using var scenario = await TpmScenario.StartAsync();
        var host = await scenario.EnrolAsync("victim", register: false, activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        // The EK's public key (what a stranger can hold) with an AK the caller made; no AK was ever activated.
        var keys = client.TpmAgent!.CreateKeys();
        string start = JsonSerializer.Serialize(keys, WireJson.Default.ActivationRequest);

        var notRegistered = await raw.AttestAsync(client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)));
        var startNotRegistered = await raw.PostAsync("attestation/v1/tpm/activate", start);

        await scenario.Admin.AddHostAsync("victim", client.TpmAgent.Identify(), allowWithoutCertificate: false, CancellationToken.None);
        var registered = await raw.AttestAsync(client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)));
        var startRegistered = await raw.PostAsync("attestation/v1/tpm/activate", start);

        // Attestation: the same status, content type and body, byte for byte but for the next challenge (a fresh nonce each time).
        Assert.Equal((403, registered.ContentType), (notRegistered.Status, notRegistered.ContentType));
        Assert.Equal(403, registered.Status);
        Assert.Equal(WithoutNextChallenge(registered.Text), WithoutNextChallenge(notRegistered.Text));
        Assert.Contains("\"nextChallenge\":{", notRegistered.Text, StringComparison.Ordinal);
        Assert.Equal(["AkNotActivated"], RawProtocol.ReasonCodes(notRegistered));

        // Activation start: a credential either way, of the same shape (only the TPM holding the EK could recover it).
        Assert.Equal((200, 200), (startNotRegistered.Status, startRegistered.Status));
        Assert.Equal(Shape(startRegistered.Body), Shape(startNotRegistered.Body));

        // A start now reaches MakeCredential for any EK: one that is no EK, or whose modulus is zero, is refused by the
        // key alone (400, the same whether registered or not), never a 500.
        var notAnEk = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(keys with { EkPublic = keys.AkPublic }, WireJson.Default.ActivationRequest));
        Assert.Equal((400, "EkUnsupported"), (notAnEk.Status, notAnEk.Code));
        var ek = TpmtPublic.Parse(Convert.FromBase64String(keys.EkPublic));
        var zero = ek with { Parameters = ek.Rsa! with { Modulus = new byte[ek.Rsa.Modulus.Length] } };
        var zeroModulus = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(keys with { EkPublic = Convert.ToBase64String(zero.ToBytes()) }, WireJson.Default.ActivationRequest));
        Assert.Equal((400, "EkUnsupported"), (zeroModulus.Status, zeroModulus.Code));

        // The stored verdicts differ: the audit trail names why each was refused.
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = 'EkNotRegistered'"));
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = 'AkNotActivated'"));
        long ekNotRegisteredAt = await scenario.Service.ExecuteSqlAsync("SELECT seq FROM audit_log WHERE event = 'attestation.attest' AND reason = 'EkNotRegistered'");
        long akNotActivatedAt = await scenario.Service.ExecuteSqlAsync("SELECT seq FROM audit_log WHERE event = 'attestation.attest' AND reason = 'AkNotActivated'");
        Assert.True(ekNotRegisteredAt < akNotActivatedAt, "the refusal before the registration is the one recorded EkNotRegistered");
    }

    private static string WithoutNextChallenge(string body) => NextChallenge().Replace(body, string.Empty);

    private static string Shape(JsonElement challenge) =>
        $"{challenge.GetProperty("credentialBlob").GetString()!.Length} {challenge.GetProperty("encryptedSecret").GetString()!.Length} {string.Join(",", challenge.EnumerateObject().Select(p => p.Name))}";

    [GeneratedRegex("\"nextChallenge\":\\{[^}]*\\}")]
    private static partial Regex NextChallenge();
}
