using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using OpenHgs.Client.Tpm;
using OpenHgs.Service.Policies;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Tests.Policies;

/// <summary>
/// An event's type is covered by no digest: a host can relabel any event and still replay to its quote. These
/// tests relabel events of a real corpus log (Rhel8GCE) and show the policies do not trust the label.
/// </summary>
public sealed class EventTypeRelabellingTests
{
    private const string Corpus = "Rhel8GCE";

    [Theory]
    [Trait("Attack", "A24")]
    [InlineData(TcgEventType.EfiBootServicesApplication, new[] { "Hgs_BaselineMatch", "Hgs_BootComponents" })]
    [InlineData(TcgEventType.EfiBootServicesDriver, new[] { "Hgs_EventLogIntegrity", "Hgs_BaselineMatch", "Hgs_BootComponents" })]
    [InlineData(TcgEventType.CompactHash, new[] { "Hgs_EventLogIntegrity", "Hgs_BaselineMatch", "Hgs_BootComponents" })]
    public void An_unapproved_boot_loader_fails_boot_components_whatever_its_event_type(TcgEventType label, string[] expectedFailures)
    {
        byte[] bytes = TestData.ReadLog(Corpus);
        var loader = EventLogParser.Parse(bytes).Events.Last(e => e is { Pcr: 4, Type: TcgEventType.EfiBootServicesApplication });
        ReplaceDigests(bytes, loader, "an unapproved boot loader");
        Relabel(bytes, loader, label);

        var outcomes = Evaluate(bytes);

        Assert.Equal(expectedFailures, outcomes.Where(o => !o.Result.Passed).Select(o => o.Name));
        var components = Assert.Single(outcomes, o => o.Name == "Hgs_BootComponents").Result.Message;
        Assert.Contains($"event {loader.Index} ({label.SpecName()})", components, StringComparison.Ordinal);
        if (label != TcgEventType.EfiBootServicesApplication)
        {
            AssertUnexpectedType(outcomes, loader.Index, 4, label);
        }
    }

    [Fact]
    [Trait("Attack", "A25")]
    public void An_approved_boot_application_relabelled_passes_boot_components_but_fails_integrity_naming_the_event()
    {
        byte[] bytes = TestData.ReadLog(Corpus);
        var shim = EventLogParser.Parse(bytes).Events.First(e => e is { Pcr: 4, Type: TcgEventType.EfiBootServicesApplication });
        Relabel(bytes, shim, TcgEventType.EfiBootServicesDriver);

        var outcomes = Evaluate(bytes);

        Assert.Equal(["Hgs_EventLogIntegrity"], outcomes.Where(o => !o.Result.Passed).Select(o => o.Name));
        AssertUnexpectedType(outcomes, shim.Index, 4, TcgEventType.EfiBootServicesDriver);
    }

    // The inserted event changes PCR 7, so Hgs_BaselineMatch fails too: before this fix it was the only policy that did
    // once the event was relabelled, and it is the policy admins disable first.
    [Theory]
    [Trait("Attack", "A26")]
    [InlineData(TcgEventType.EfiAction, new[] { "Hgs_UefiDebugDisabled", "Hgs_BaselineMatch" })]
    [InlineData(TcgEventType.EfiVariableDriverConfig, new[] { "Hgs_UefiDebugDisabled", "Hgs_BaselineMatch" })]
    [InlineData(TcgEventType.Ipl, new[] { "Hgs_EventLogIntegrity", "Hgs_UefiDebugDisabled", "Hgs_BaselineMatch" })]
    [InlineData(TcgEventType.CompactHash, new[] { "Hgs_EventLogIntegrity", "Hgs_UefiDebugDisabled", "Hgs_BaselineMatch" })]
    [InlineData((TcgEventType)0x1234, new[] { "Hgs_EventLogIntegrity", "Hgs_UefiDebugDisabled", "Hgs_BaselineMatch" })]
    public void Uefi_debug_mode_fails_whatever_its_event_type(TcgEventType label, string[] expectedFailures)
    {
        var (bytes, debug) = WithDebugMode(TestData.ReadLog(Corpus));
        Relabel(bytes, debug, label);

        var outcomes = Evaluate(bytes);

        Assert.Equal(expectedFailures, outcomes.Where(o => !o.Result.Passed).Select(o => o.Name));
        var message = Assert.Single(outcomes, o => o.Name == "Hgs_UefiDebugDisabled").Result.Message;
        Assert.Contains($"event {debug.Index}", message, StringComparison.Ordinal);
        if (expectedFailures.Contains("Hgs_EventLogIntegrity"))
        {
            AssertUnexpectedType(outcomes, debug.Index, 7, label);
        }
    }

    [Fact]
    [Trait("Attack", "A26")]
    public void Uefi_debug_mode_is_found_by_its_digest_when_type_and_data_are_both_rewritten()
    {
        var (bytes, debug) = WithDebugMode(TestData.ReadLog(Corpus));
        Relabel(bytes, debug, TcgEventType.EfiVariableAuthority);   // a PCR 7 type whose data Integrity does not hash
        bytes.AsSpan(debug.Offset + debug.Size - debug.Data.Length, debug.Data.Length).Fill((byte)'x');

        var outcomes = Evaluate(bytes);

        Assert.Equal(["Hgs_UefiDebugDisabled", "Hgs_BaselineMatch"], outcomes.Where(o => !o.Result.Passed).Select(o => o.Name));
    }

    private static void AssertUnexpectedType(IReadOnlyList<PolicyOutcome> outcomes, int index, int pcr, TcgEventType type)
    {
        var integrity = Assert.Single(outcomes, o => o.Name == "Hgs_EventLogIntegrity").Result;
        Assert.False(integrity.Passed);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"event {index} in PCR {pcr} has type {type.SpecName()}"),
            integrity.Message, StringComparison.Ordinal);
    }

    // The host's own replay stands in for its quote (the quote would match: no digest changed by a relabel),
    // against the unmodified corpus log as the registered baseline.
    private static IReadOnlyList<PolicyOutcome> Evaluate(byte[] host)
    {
        var log = EventLogParser.Parse(host);
        var baseline = Baseline.FromDocument(Corpus, BaselineCapture.Describe(TestData.ReadLog(Corpus), "class", DateTimeOffset.UnixEpoch).Document);
        var evidence = PolicyEvidence.Of(log, [baseline]);
        var defaults = new PolicySnapshot(1, PolicyCatalog.All.ToDictionary(p => p.Name, p => p.DefaultState), []);
        return defaults.Evaluate(evidence).ToList();
    }

    // TCG_PCR_EVENT2: pcrIndex (4 bytes), eventType (4 bytes), digests, eventSize, event.
    private static void Relabel(byte[] log, TcgEvent e, TcgEventType type) =>
        BinaryPrimitives.WriteUInt32LittleEndian(log.AsSpan(e.Offset + 4, 4), (uint)type);

    private static void ReplaceDigests(byte[] log, TcgEvent e, string image)
    {
        foreach (var (bank, digest) in e.Digests)
        {
            int at = log.AsSpan(e.Offset, e.Size).IndexOf(digest);
            Assert.True(at >= 0);
            bank.Hash(Encoding.ASCII.GetBytes(image)).CopyTo(log, e.Offset + at);
        }
    }

    // Inserts the EV_EFI_ACTION "UEFI Debug Mode" a firmware in debug mode measures first into PCR 7.
    private static (byte[] Log, TcgEvent Debug) WithDebugMode(byte[] log)
    {
        var parsed = EventLogParser.Parse(log);
        var first = parsed.Events.First(e => e.Pcr == 7);
        byte[] data = Encoding.ASCII.GetBytes("UEFI Debug Mode");
        var evt = new MemoryStream();
        evt.Write(U32(7));
        evt.Write(U32((uint)TcgEventType.EfiAction));
        evt.Write(U32((uint)parsed.Banks.Count));
        foreach (var bank in parsed.Banks)
        {
            evt.Write(U16((ushort)bank));
            evt.Write(bank.Hash(data));
        }
        evt.Write(U32((uint)data.Length));
        evt.Write(data);
        byte[] result = [.. log.AsSpan(0, first.Offset), .. evt.ToArray(), .. log.AsSpan(first.Offset)];
        var debug = EventLogParser.Parse(result).Events[first.Index];
        Assert.Equal(TcgEventType.EfiAction, debug.Type);
        return (result, debug);
    }

    private static byte[] U16(ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        return b;
    }

    private static byte[] U32(uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return b;
    }
}
