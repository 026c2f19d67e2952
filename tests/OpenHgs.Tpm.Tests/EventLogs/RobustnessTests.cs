using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Tests.Support;

namespace OpenHgs.Tpm.Tests.EventLogs;

/// <summary>Malformed input gives <see cref="EventLogFormatException"/> or a valid log, never anything else.</summary>
public sealed class RobustnessTests
{
    public static TheoryData<string> Logs => TestData.LogNames;

    [Fact]
    public void Empty_log_is_rejected()
    {
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse([]));
        Assert.Equal(EventLogError.Empty, ex.Reason);
        Assert.Equal(0, ex.Offset);
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Truncation_at_every_offset_is_an_error_or_an_event_boundary(string name)
    {
        var bytes = TestData.ReadLog(name);
        var full = EventLogParser.Parse(bytes);
        var boundaries = full.Events.Select(e => e.Offset + e.Size).ToHashSet();
        // Every offset in the first 4 KiB (Spec ID and early events), then a stride that still hits every field.
        for (var length = 1; length < bytes.Length; length += length < 4096 ? 1 : 13)
        {
            var truncated = bytes.AsSpan(0, length);
            if (boundaries.Contains(length))
            {
                var partial = EventLogParser.Parse(truncated);
                Assert.True(partial.Events.Count < full.Events.Count);
                continue;
            }
            var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes.AsSpan(0, length)));
            Assert.InRange(ex.Offset, 0, length);
        }
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Random_corruption_never_escapes_as_another_exception(string name)
    {
        var original = TestData.ReadLog(name);
        var random = new Random(20261129);
        for (var round = 0; round < 150; round++)
        {
            var bytes = (byte[])original.Clone();
            var flips = 1 + random.Next(8);
            for (var i = 0; i < flips; i++)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            ParseAndRenderOrFormatError(bytes);
        }
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Corrupting_each_header_field_is_handled(string name)
    {
        var original = TestData.ReadLog(name);
        var log = EventLogParser.Parse(original);
        // pcrIndex, eventType and (agile) digest count / first algorithm of the first 40 events.
        foreach (var e in log.Events.Take(40))
        {
            for (var field = 0; field < 14; field++)
            {
                foreach (var value in new byte[] { 0x00, 0xFF })
                {
                    var bytes = (byte[])original.Clone();
                    if (e.Offset + field < bytes.Length)
                    {
                        bytes[e.Offset + field] = value;
                        ParseAndRenderOrFormatError(bytes, render: false);
                    }
                }
            }
        }
    }

    [Fact]
    public void Huge_declared_event_size_is_rejected_with_offset()
    {
        var bytes = EventLogBuilder.Legacy().RawLegacy(0, 8, new byte[20], [1, 2, 3]).Build();
        bytes[28] = 0xFF;
        bytes[29] = 0xFF;
        bytes[30] = 0xFF;
        bytes[31] = 0x7F;
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes));
        Assert.Equal(EventLogError.EventTooLarge, ex.Reason);
        Assert.Equal(28, ex.Offset);
        Assert.Contains("offset 28", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Huge_algorithm_count_in_spec_id_is_rejected()
    {
        var bytes = EventLogBuilder.Agile(TpmAlgorithm.Sha256).Build();
        // Spec ID data starts at 32; numberOfAlgorithms is at 32 + 24.
        bytes[56] = 0xFF;
        bytes[57] = 0xFF;
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes));
        Assert.Equal(EventLogError.InvalidSpecIdEvent, ex.Reason);
        Assert.Equal(56, ex.Offset);
    }

    [Fact]
    public void Pcr_index_out_of_range_is_rejected()
    {
        var bytes = EventLogBuilder.Legacy().RawLegacy(99, 8, new byte[20], []).Build();
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes));
        Assert.Equal(EventLogError.PcrIndexOutOfRange, ex.Reason);
    }

    [Fact]
    public void Many_tiny_events_are_bounded()
    {
        var builder = EventLogBuilder.Legacy();
        for (var i = 0; i < EventLogParser.MaxEvents + 1; i++)
        {
            builder.RawLegacy(0, 1, new byte[20], []);
        }
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(builder.Build()));
        Assert.Equal(EventLogError.TooManyEvents, ex.Reason);
    }

    [Fact]
    public void Malformed_variable_data_is_kept_raw()
    {
        var variable = EventLogBuilder.Variable(UefiVariableDetails.EfiGlobalVariable, "SecureBoot", [1]);
        variable[16] = 0xFF; // name length enormous
        var log = EventLogParser.Parse(EventLogBuilder.Legacy().Add(7, (uint)TcgEventType.EfiVariableDriverConfig, variable).Build());
        Assert.Null(log.Events[0].Details);
        Assert.Null(log.GetSecureBootState().Enabled);
        Assert.Contains("\"data\"", EventLogReport.ToJson(log), StringComparison.Ordinal);
    }

    private static void ParseAndRenderOrFormatError(byte[] bytes, bool render = true)
    {
        try
        {
            var log = EventLogParser.Parse(bytes);
            _ = log.Replay();
            _ = log.GetSecureBootState();
            if (render)
            {
                _ = EventLogReport.ToJson(log);
                _ = EventLogReport.ToText(log);
            }
        }
        catch (EventLogFormatException e)
        {
            Assert.InRange(e.Offset, 0, bytes.Length);
        }
    }
}
