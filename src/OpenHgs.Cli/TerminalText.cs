using System.Globalization;
using System.Text;

namespace OpenHgs.Cli;

/// <summary>
/// Makes text safe to print on the operator's terminal. Output lines carry strings the CLI did not write (a service's
/// problem detail, certificate subjects, CRL issuers); a control character among them (ESC, BEL, CR, a C1 CSI) would
/// let whoever wrote it drive the terminal (rewrite the screen, set the clipboard, hide a warning) or forge an output
/// line. So each control character is printed as its <c>\uXXXX</c> escape instead: seen, and doing nothing. Every line
/// the CLI prints is one line by construction, so line feeds are escaped too (JSON output escapes them itself).
/// </summary>
internal static class TerminalText
{
    /// <summary><paramref name="text"/> as one line: every control character (line feeds too) escaped.</summary>
    public static string Inert(string text) => Escape(text, keepLineFeeds: false);

    /// <summary>A multi-line report (<c>eventlog show</c>, <c>evidence verify</c>): its line feeds kept, every other control character escaped.</summary>
    public static string InertLines(string text) => Escape(text, keepLineFeeds: true);

    private static string Escape(string text, bool keepLineFeeds)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(c => Escaped(c, keepLineFeeds)))
        {
            return text;
        }

        var inert = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (Escaped(c, keepLineFeeds))
            {
                inert.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                inert.Append(c);
            }
        }

        return inert.ToString();
    }

    private static bool Escaped(char c, bool keepLineFeeds) => char.IsControl(c) && !(keepLineFeeds && c == '\n');
}
