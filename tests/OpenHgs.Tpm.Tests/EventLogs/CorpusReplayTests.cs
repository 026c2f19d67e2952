using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Tests.Support;

namespace OpenHgs.Tpm.Tests.EventLogs;

public sealed class CorpusReplayTests
{
    public static TheoryData<string> Logs => TestData.LogNames;

    [Fact]
    public void Manifest_lists_logs()
    {
        Assert.NotEmpty(TestData.Manifest);
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Log_parses_completely(string name)
    {
        var bytes = TestData.ReadLog(name);
        Assert.Equal(TestData.Entry(name).Bytes, bytes.Length);

        var log = EventLogParser.Parse(bytes);

        var last = log.Events[^1];
        Assert.Equal(bytes.Length, last.Offset + last.Size);
        Assert.Equal(Enumerable.Range(0, log.Events.Count), log.Events.Select(e => e.Index));
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Replay_reproduces_every_expected_pcr(string name)
    {
        var entry = TestData.Entry(name);
        var log = EventLogParser.Parse(TestData.ReadLog(name));
        var replay = log.Replay();

        foreach (var (bankName, expected) in entry.ExpectedPcrs)
        {
            Assert.True(TpmAlgorithms.TryParseName(bankName, out var bank), bankName);
            Assert.True(replay.ContainsKey(bank), $"{name}: bank {bankName} missing from replay");
            foreach (var (pcr, hex) in expected)
            {
                Assert.True(replay[bank].TryGetValue(pcr, out var actual), $"{name}: {bankName} PCR {pcr} not extended");
                Assert.Equal(hex, Convert.ToHexStringLower(actual));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Every_event_type_is_named_and_text_renders(string name)
    {
        var log = EventLogParser.Parse(TestData.ReadLog(name));
        Assert.All(log.Events, e => Assert.DoesNotContain("UNKNOWN", e.Type.SpecName(), StringComparison.Ordinal));
        var text = EventLogReport.ToText(log);
        Assert.Contains("PCRs (sha1)", text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Separators_and_variables_decode(string name)
    {
        var log = EventLogParser.Parse(TestData.ReadLog(name));
        var separators = log.Events.Where(e => e.Type == TcgEventType.Separator).ToList();
        Assert.NotEmpty(separators);
        Assert.All(separators, e => Assert.IsType<SeparatorEventDetails>(e.Details));
        Assert.All(log.Events.Where(e => e.Type.IsEfiVariable()), e => Assert.IsType<UefiVariableDetails>(e.Details));
        Assert.All(log.Events.Where(e => e.Type == TcgEventType.EfiBootServicesApplication),
            e => Assert.IsType<ImageLoadEventDetails>(e.Details));
    }
}
