using System.Diagnostics;
using System.Globalization;

namespace OpenHgs.Bench;

/// <summary>Human-readable progress and explanations on stderr (stdout carries only the final JSON line).</summary>
public sealed class Progress(TextWriter writer)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>A phase starts.</summary>
    public void Step(string message) => Write("==", message);

    /// <summary>A figure and what limits it.</summary>
    public void Info(string message) => Write("  ", message);

    private void Write(string marker, string message)
    {
        lock (writer)
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,6:F1}s] {marker} {message}"));
            writer.Flush();
        }
    }
}
