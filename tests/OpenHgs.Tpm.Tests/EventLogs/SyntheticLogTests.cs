using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Tests.Support;

namespace OpenHgs.Tpm.Tests.EventLogs;

public sealed class SyntheticLogTests
{
    private static readonly TpmAlgorithm[] AllBanks = [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256, TpmAlgorithm.Sha384, TpmAlgorithm.Sha512];

    [Fact]
    public void Agile_log_replays_all_four_banks()
    {
        var bytes = EventLogBuilder.Agile(AllBanks)
            .Add(0, (uint)TcgEventType.SCrtmVersion, "v1")
            .Add(0, (uint)TcgEventType.Separator, new byte[4])
            .Add(8, (uint)TcgEventType.Ipl, "linux /vmlinuz root=/dev/sda1\0")
            .Add(8, (uint)TcgEventType.NoAction, "ignored")
            .Build();

        var log = EventLogParser.Parse(bytes);
        Assert.Equal(EventLogFormat.CryptoAgile, log.Format);
        Assert.Equal(AllBanks, log.Banks);
        var replay = log.Replay();
        foreach (var bank in AllBanks)
        {
            var pcr0 = Extend(bank, new byte[bank.DigestSize()], "v1"u8.ToArray(), new byte[4]);
            var pcr8 = Extend(bank, new byte[bank.DigestSize()], "linux /vmlinuz root=/dev/sda1\0"u8.ToArray());
            Assert.Equal(pcr0, replay[bank][0]);
            Assert.Equal(pcr8, replay[bank][8]);
            Assert.Equal([0, 8], replay[bank].Keys.Order());
        }
        var ipl = Assert.IsType<TextEventDetails>(log.Events[3].Details);
        Assert.Equal("linux /vmlinuz root=/dev/sda1", ipl.Text);
    }

    [Fact]
    public void StartupLocality_sets_initial_pcr0()
    {
        var bytes = EventLogBuilder.Agile(TpmAlgorithm.Sha256)
            .Add(0, (uint)TcgEventType.NoAction, [.. "StartupLocality\0"u8, 3])
            .Add(0, (uint)TcgEventType.SCrtmVersion, "v1")
            .Build();

        var log = EventLogParser.Parse(bytes);
        Assert.Equal(3, Assert.IsType<StartupLocalityEventDetails>(log.Events[1].Details).Locality);
        var initial = new byte[32];
        initial[^1] = 3;
        Assert.Equal(Extend(TpmAlgorithm.Sha256, initial, "v1"u8.ToArray()), log.Replay()[TpmAlgorithm.Sha256][0]);
    }

    [Fact]
    public void Corpus_log_with_StartupLocality_uses_it()
    {
        var log = EventLogParser.Parse(TestData.ReadLog("GlinuxNoSecureBootLaptop"));
        Assert.Contains(log.Events, e => e.Details is StartupLocalityEventDetails);
    }

    [Fact]
    public void Legacy_log_replays_sha1()
    {
        var bytes = EventLogBuilder.Legacy()
            .Add(0, (uint)TcgEventType.SCrtmVersion, "v1")
            .Add(4, (uint)TcgEventType.Separator, new byte[4])
            .Build();

        var log = EventLogParser.Parse(bytes);
        Assert.Equal(EventLogFormat.Sha1Legacy, log.Format);
        Assert.Equal([TpmAlgorithm.Sha1], log.Banks);
        Assert.Equal(Extend(TpmAlgorithm.Sha1, new byte[20], new byte[4]), log.Replay()[TpmAlgorithm.Sha1][4]);
        Assert.Null(log.SpecId);
    }

    [Fact]
    public void Secure_boot_state_from_synthetic_variables()
    {
        var sb = EventLogBuilder.Variable(UefiVariableDetails.EfiGlobalVariable, "SecureBoot", [1]);
        var pk = EventLogBuilder.Variable(UefiVariableDetails.EfiGlobalVariable, "PK", [1, 2, 3]);
        var dbx = EventLogBuilder.Variable(UefiVariableDetails.ImageSecurityDatabase, "dbx", []);
        var bytes = EventLogBuilder.Agile(TpmAlgorithm.Sha256)
            .Add(7, (uint)TcgEventType.EfiVariableDriverConfig, sb)
            .Add(7, (uint)TcgEventType.EfiVariableDriverConfig, pk)
            .Add(7, (uint)TcgEventType.EfiVariableDriverConfig, dbx)
            .Add(7, (uint)TcgEventType.EfiAction, "UEFI Debug Mode")
            .Build();

        var state = EventLogParser.Parse(bytes).GetSecureBootState();
        Assert.True(state.Enabled);
        Assert.True(state.SecureBoot!.DataVerified);
        Assert.Equal([1, 2, 3], state.Pk!.Value);
        Assert.NotNull(state.Dbx);
        Assert.Null(state.Kek);
        Assert.True(state.DebugModeMeasured);
    }

    [Theory]
    [InlineData(TcgEventType.EfiAction, "UEFI Debug Mode")]
    [InlineData(TcgEventType.EfiVariableDriverConfig, "UEFI Debug Mode")]
    [InlineData(TcgEventType.Ipl, "UEFI Debug Mode\0")]
    [InlineData((TcgEventType)0x1234, "UEFI Debug Mode")]
    public void Uefi_debug_mode_is_found_whatever_the_event_type_says(TcgEventType type, string text)
    {
        var bytes = EventLogBuilder.Agile(TpmAlgorithm.Sha256)
            .Add(7, (uint)TcgEventType.Separator, new byte[4])
            .Add(7, (uint)type, text)
            .Build();

        var state = EventLogParser.Parse(bytes).GetSecureBootState();

        Assert.Equal(2, state.DebugModeEvent);
        Assert.True(state.DebugModeMeasured);
    }

    [Fact]
    public void Uefi_debug_mode_is_found_by_digest_when_the_data_is_rewritten_and_not_in_other_pcrs()
    {
        var debug = TpmAlgorithm.Sha1.Hash("UEFI Debug Mode"u8);
        var bytes = EventLogBuilder.Legacy()
            .RawLegacy(1, (uint)TcgEventType.EfiAction, debug, "UEFI Debug Mode"u8.ToArray())
            .RawLegacy(7, (uint)TcgEventType.EfiVariableAuthority, debug, [1, 2, 3])
            .Build();

        Assert.Equal(1, EventLogParser.Parse(bytes).GetSecureBootState().DebugModeEvent);
    }

    [Fact]
    public void Secure_boot_variable_whose_digest_does_not_match_is_not_verified()
    {
        var sb = EventLogBuilder.Variable(UefiVariableDetails.EfiGlobalVariable, "SecureBoot", [1]);
        var bytes = EventLogBuilder.Legacy().RawLegacy(7, (uint)TcgEventType.EfiVariableDriverConfig, new byte[20], sb).Build();
        var state = EventLogParser.Parse(bytes).GetSecureBootState();
        Assert.True(state.Enabled);
        Assert.False(state.SecureBoot!.DataVerified);
    }

    [Fact]
    public void Digest_count_must_match_spec_id()
    {
        var bytes = EventLogBuilder.Agile(TpmAlgorithm.Sha256).Build()
            .Concat(EventLogBuilder.U32(0)).Concat(EventLogBuilder.U32(4)).Concat(EventLogBuilder.U32(2)).ToArray();
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes));
        Assert.Equal(EventLogError.InvalidDigestCount, ex.Reason);
    }

    [Fact]
    public void Undeclared_algorithm_is_rejected()
    {
        var bytes = EventLogBuilder.Agile(TpmAlgorithm.Sha256).Build()
            .Concat(EventLogBuilder.U32(0)).Concat(EventLogBuilder.U32(4)).Concat(EventLogBuilder.U32(1))
            .Concat(EventLogBuilder.U16((ushort)TpmAlgorithm.Sha1)).Concat(new byte[40]).ToArray();
        var ex = Assert.Throws<EventLogFormatException>(() => EventLogParser.Parse(bytes));
        Assert.Equal(EventLogError.UnknownDigestAlgorithm, ex.Reason);
    }

    [Fact]
    public void Sm3_bank_parses_but_is_not_replayed()
    {
        var log = EventLogParser.Parse(EventLogBuilder.Agile(TpmAlgorithm.Sha256, TpmAlgorithm.Sm3_256).Build());
        Assert.Equal([TpmAlgorithm.Sha256, TpmAlgorithm.Sm3_256], log.Banks);
        Assert.DoesNotContain(TpmAlgorithm.Sm3_256, log.Replay().Keys);
    }

    private static byte[] Extend(TpmAlgorithm bank, byte[] start, params byte[][] data)
    {
        var pcr = start;
        foreach (var d in data)
        {
            pcr = bank.Hash([.. pcr, .. bank.Hash(d)]);
        }
        return pcr;
    }
}
