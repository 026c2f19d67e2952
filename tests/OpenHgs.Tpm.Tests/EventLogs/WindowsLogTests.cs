using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Tests.Support;

namespace OpenHgs.Tpm.Tests.EventLogs;

/// <summary>
/// Windows measured-boot logs (WBCL) log EV_NO_ACTION events at PCR 0xFFFFFFFF: they parse, are shown, and are never
/// replayed nor quoted; any other event at an out-of-range PCR still refuses the whole log.
/// </summary>
public sealed class WindowsLogTests
{
    private static readonly TpmAlgorithm[] Banks = [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256];

    [Fact]
    public void No_action_events_at_pcr_minus_one_parse_and_are_not_replayed()
    {
        var log = EventLogParser.Parse(EventLogBuilder.WindowsMeasuredBoot(Banks).Build());

        var tags = log.Events.Where(e => e.Pcr == TcgEvent.NoPcr).ToList();
        Assert.Equal(2, tags.Count);
        Assert.All(tags, e => Assert.Equal(TcgEventType.NoAction, e.Type));
        Assert.All(tags, e => Assert.False(e.IsExtended));

        var replay = log.Replay();
        foreach (var bank in Banks)
        {
            Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7, 12], replay[bank].Keys.Order());
            // Folding only the events at real PCRs gives the replay: the -1 events' digests went nowhere.
            foreach (var (pcr, value) in replay[bank])
            {
                var expected = log.Events.Where(e => e.Pcr == pcr && e.IsExtended)
                    .Aggregate(new byte[bank.DigestSize()], (acc, e) => bank.Hash([.. acc, .. e.Digests[bank]]));
                Assert.Equal(expected, value);
            }
        }
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7, 12], AttestedPcrs.Indices(log));
    }

    [Fact]
    public void Replay_is_the_same_with_or_without_the_minus_one_events()
    {
        var with = EventLogParser.Parse(EventLogBuilder.WindowsMeasuredBoot(Banks).Build());
        var withPcr0 = with.Replay()[TpmAlgorithm.Sha256][0];

        // PCR 0 of the Windows log is S-CRTM version then separator; rebuild that without the tag between them.
        var plain = EventLogParser.Parse(EventLogBuilder.Agile(Banks)
            .Add(0, 0x08, "Hyper-V UEFI Release v4.1\0")
            .AddSeparators(0, 0)
            .Build());
        Assert.Equal(plain.Replay()[TpmAlgorithm.Sha256][0], withPcr0);
    }

    [Fact]
    public void Legacy_sha1_log_accepts_no_action_at_pcr_minus_one()
    {
        var log = EventLogParser.Parse(EventLogBuilder.Legacy()
            .Add(0, 0x08, "v1")
            .Add(EventLogBuilder.WindowsNoPcr, 0x03, EventLogBuilder.Sipa(0x40010002, new byte[8]))
            .Build());

        Assert.Equal(TcgEvent.NoPcr, log.Events[1].Pcr);
        Assert.Equal([0], log.Replay()[TpmAlgorithm.Sha1].Keys);
    }

    [Theory]
    [Trait("Attack", "A65")]
    [InlineData(EventLogBuilder.WindowsNoPcr, 0x04u)] // EV_SEPARATOR at 0xFFFFFFFF would be extended into nothing
    [InlineData(EventLogBuilder.WindowsNoPcr, 0x06u)] // EV_EVENT_TAG (Windows SIPA in PCR 12-14) too
    [InlineData(32, 0x03u)] // EV_NO_ACTION is excused only at exactly 0xFFFFFFFF
    [InlineData(-2, 0x03u)]
    public void Other_out_of_range_pcr_indexes_are_refused(int pcr, uint type)
    {
        var prefix = EventLogBuilder.Agile(Banks).Add(0, 0x08, "v1").Build();
        var bytes = EventLogBuilder.Agile(Banks).Add(0, 0x08, "v1").Add(pcr, type, "x").Build();

        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes));
        Assert.Equal(EventLogError.PcrIndexOutOfRange, ex.Reason);
        Assert.Equal(prefix.Length, ex.Offset);
    }

    [Fact]
    public void Report_shows_the_minus_one_events()
    {
        var log = EventLogParser.Parse(EventLogBuilder.WindowsMeasuredBoot(Banks).Build());

        Assert.Contains("PCR -1 EV_NO_ACTION", EventLogReport.ToText(log), StringComparison.Ordinal);
        Assert.Contains("\"pcr\": -1", EventLogReport.ToJson(log), StringComparison.Ordinal);
    }
}
