using Microsoft.Extensions.Logging;

namespace OpenHgs.Server.Hosting;

/// <summary>How <c>hgs server run</c> writes its log to the console (<c>--log-format</c>).</summary>
public enum LogFormat
{
    /// <summary><c>text</c>: one line per event, UTC timestamp first (the default); under systemd, journald's priority-prefixed lines.</summary>
    Text,

    /// <summary><c>json</c>: one JSON object per line (Microsoft's JSON console formatter): Timestamp, EventId, LogLevel, Category, Message, State.</summary>
    Json,
}

/// <summary>Parses <c>--log-format</c> and <c>--log-level</c>, and sets up the console logger.</summary>
public static class ServiceLogging
{
    private const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";

    /// <summary><c>text</c> or <c>json</c>; throws <see cref="FormatException"/> naming them.</summary>
    public static LogFormat ParseFormat(string text) => text?.Trim() switch
    {
        "text" => LogFormat.Text,
        "json" => LogFormat.Json,
        _ => throw new FormatException($"'{text}' is not a log format: use text or json."),
    };

    /// <summary><c>trace</c>, <c>debug</c>, <c>information</c>, <c>warning</c>, <c>error</c>, <c>critical</c> (case-insensitive); throws <see cref="FormatException"/> naming them.</summary>
    public static LogLevel ParseLevel(string text) => text?.Trim().ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" => LogLevel.Critical,
        _ => throw new FormatException($"'{text}' is not a log level: use trace, debug, information, warning, error or critical."),
    };

    /// <summary>
    /// The service's console logger: only OpenHGS's own categories below warning (ASP.NET Core's request logs stay at
    /// warning, so request paths and headers are not logged per request). Security contract: every OpenHGS log
    /// message names codes, labels, thumbprints and paths, never PINs, tokens or key material; the JSON format writes
    /// the same message and its template arguments (State), nothing else.
    /// </summary>
    internal static void Configure(ILoggingBuilder logging, LogFormat format, LogLevel minimum)
    {
        logging.ClearProviders();
        if (format == LogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = TimestampFormat;
                o.IncludeScopes = false;
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        else if (Microsoft.Extensions.Hosting.Systemd.SystemdHelpers.IsSystemdService())
        {
            // Under systemd: one line per entry with a <N> syslog priority prefix that journald turns into the level;
            // journald stamps the time itself.
            logging.AddSystemdConsole();
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = TimestampFormat + " ";
                o.UseUtcTimestamp = true;
            });
        }

        logging.SetMinimumLevel(minimum);
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    }
}
