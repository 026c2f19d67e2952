using System.Text.Json;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Tests.Support;

namespace OpenHgs.Tpm.Tests.EventLogs;

public sealed class SecureBootAndReportTests
{
    public static TheoryData<string> Logs => TestData.LogNames;

    [Theory]
    [InlineData("Rhel8GCE", true)]
    [InlineData("COS85AmdSev", true)]
    [InlineData("COS93AmdSev", true)]
    [InlineData("Debian10GCE", true)]
    [InlineData("Ubuntu2104NoSecureBootGCE", false)]
    [InlineData("GlinuxNoSecureBootLaptop", false)]
    public void Secure_boot_state_matches_the_machine(string name, bool enabled)
    {
        var state = EventLogParser.Parse(TestData.ReadLog(name)).GetSecureBootState();
        Assert.Equal(enabled, state.Enabled);
        Assert.True(state.SecureBoot!.DataVerified);
        Assert.NotNull(state.Pk);
        Assert.NotNull(state.Kek);
        Assert.NotNull(state.Db);
        Assert.NotNull(state.Dbx);
        Assert.False(state.DebugModeMeasured);
    }

    [Fact]
    public void No_dbx_log_has_empty_dbx_and_db_certificates_parse()
    {
        var state = EventLogParser.Parse(TestData.ReadLog("Ubuntu2104NoDbxGCE")).GetSecureBootState();
        Assert.Empty(state.Dbx!.Value);
        Assert.True(EfiSignatureList.TryParse(state.Db!.Value, out var db));
        Assert.NotEmpty(db);
        Assert.All(db, s => Assert.Equal(EfiSignature.X509, s.SignatureType));
        Assert.False(EfiSignatureList.TryParse([1, 2, 3], out _));
    }

    [Fact]
    public void Rhel_dbx_has_hash_entries()
    {
        var state = EventLogParser.Parse(TestData.ReadLog("Rhel8GCE")).GetSecureBootState();
        Assert.True(EfiSignatureList.TryParse(state.Dbx!.Value, out var dbx));
        Assert.Contains(dbx, s => s.SignatureType == EfiSignature.Sha256 && s.Data.Length == 32);
        Assert.NotEmpty(state.Authorities);
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Json_report_has_format_pcrs_and_events(string name)
    {
        var entry = TestData.Entry(name);
        var log = EventLogParser.Parse(TestData.ReadLog(name));
        using var doc = JsonDocument.Parse(EventLogReport.ToJson(log));
        var root = doc.RootElement;

        Assert.Equal(log.Format == EventLogFormat.CryptoAgile ? "crypto-agile" : "sha1-legacy", root.GetProperty("format").GetString());
        var pcrs = root.GetProperty("pcrs");
        foreach (var (bank, expected) in entry.ExpectedPcrs)
        {
            foreach (var (pcr, hex) in expected)
            {
                Assert.Equal(hex, pcrs.GetProperty(bank).GetProperty(pcr.ToString()).GetString());
            }
        }
        foreach (var bank in pcrs.EnumerateObject())
        {
            Assert.Contains(log.Banks, b => b.Name() == bank.Name);
        }
        var events = root.GetProperty("events");
        Assert.Equal(log.Events.Count, events.GetArrayLength());
        var first = events[1];
        Assert.Equal(1, first.GetProperty("index").GetInt32());
        Assert.StartsWith("EV_", first.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.True(first.GetProperty("digests").TryGetProperty("sha1", out _));
    }

    [Fact]
    public void Ipl_text_keeps_kernel_command_line()
    {
        var log = EventLogParser.Parse(TestData.ReadLog("Rhel8GCE"));
        var texts = log.Events.Where(e => e.Type == TcgEventType.Ipl).Select(e => Assert.IsType<TextEventDetails>(e.Details).Text).ToList();
        Assert.Contains(texts, t => t.Contains("vmlinuz", StringComparison.Ordinal));
    }

    [Fact]
    public void Boot_application_device_paths_render_file_names()
    {
        var log = EventLogParser.Parse(TestData.ReadLog("Rhel8GCE"));
        var paths = log.Events.Where(e => e.Type == TcgEventType.EfiBootServicesApplication)
            .Select(e => ((ImageLoadEventDetails)e.Details!).DevicePath).ToList();
        Assert.Contains(paths, p => p.Contains(".efi", StringComparison.OrdinalIgnoreCase));
    }
}
