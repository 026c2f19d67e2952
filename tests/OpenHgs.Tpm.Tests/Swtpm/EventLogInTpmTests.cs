using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Tests.Support;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Swtpm;

/// <summary>
/// Reproduces a real machine's measured boot in a fresh swtpm (its own instance: PCRs must start at zero),
/// quotes it and verifies the quote against the replay of the log — the core of TPM-mode attestation.
/// </summary>
public sealed class EventLogInTpmTests : IDisposable
{
    private static readonly int[] BootPcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14];
    private readonly SwtpmFixture _swtpm = new();

    [Fact]
    public void Real_log_replayed_into_swtpm_matches_manifest_and_quote_verifies_against_replay()
    {
        var entry = TestData.Entry("Rhel8GCE");
        var log = EventLogParser.Parse(TestData.ReadLog(entry.Name));
        var replay = log.Replay();
        var nonce = RandomNumberGenerator.GetBytes(32);
        var selection = PcrSelection.Create(TpmAlgorithm.Sha256, BootPcrs);

        using var tpm = _swtpm.CreateClient();
        tpm.ExtendEventLog(log, [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256]);
        foreach (var (bankName, expected) in entry.ExpectedPcrs)
        {
            Assert.True(TpmAlgorithms.TryParseName(bankName, out var bank));
            var actual = tpm.PcrRead(bank, expected.Keys);
            foreach (var (pcr, hex) in expected)
            {
                Assert.Equal(hex, Convert.ToHexStringLower(actual[pcr]));
            }
        }

        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var quote = tpm.Quote(ak, nonce, [selection]);
        var input = new QuoteVerificationInput(quote.AttestBytes, quote.Signature.ToBytes(), ak.Public, nonce, replay, [selection]);
        Assert.True(QuoteVerifier.Verify(input).Succeeded);

        // Any event altered, removed or reordered: the replay no longer matches the quote.
        var tampered = EventLogParser.Parse(RemoveEvent(TestData.ReadLog(entry.Name), log, log.Events.First(e => e.Pcr == 4 && e.IsExtended)));
        Assert.Equal(AttestationFailure.PcrDigestMismatch, QuoteVerifier.Verify(input with { PcrValues = tampered.Replay() }).Failure);
        var otherMachine = EventLogParser.Parse(TestData.ReadLog("Ubuntu2104NoSecureBootGCE")).Replay();
        Assert.Equal(AttestationFailure.PcrDigestMismatch, QuoteVerifier.Verify(input with { PcrValues = otherMachine }).Failure);
    }

    private static byte[] RemoveEvent(byte[] bytes, EventLog log, TcgEvent victim)
    {
        Assert.Contains(victim, log.Events);
        return [.. bytes[..victim.Offset], .. bytes[(victim.Offset + victim.Size)..]];
    }

    public void Dispose() => _swtpm.Dispose();
}
