using System.Text.RegularExpressions;

namespace OpenHgs.AttackMatrix.Tests;

/// <summary>One row of docs/security.md's attack matrix: the attack, the tests that mount it and the codes they assert.</summary>
public sealed record AttackRow(string Id, string Attack, IReadOnlyList<string> Tests, IReadOnlyList<string> Codes);

/// <summary>Reads the attack matrix table between its markers in docs/security.md.</summary>
public static partial class AttackMatrix
{
    private const string Begin = "<!-- attack-matrix:begin -->";
    private const string End = "<!-- attack-matrix:end -->";

    public static string RepositoryRoot { get; } = FindRoot();

    public static IReadOnlyList<AttackRow> Rows { get; } = Read(Path.Combine(RepositoryRoot, "docs", "security.md"));

    public static IReadOnlyList<AttackRow> Read(string path)
    {
        string text = File.ReadAllText(path);
        int begin = text.IndexOf(Begin, StringComparison.Ordinal);
        int end = text.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin)
        {
            throw new InvalidOperationException($"{path} has no attack matrix between '{Begin}' and '{End}'.");
        }

        var rows = new List<AttackRow>();
        foreach (string line in text[(begin + Begin.Length)..end].Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] cells = line.Trim('|').Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length != 5)
            {
                throw new InvalidOperationException($"attack matrix line has {cells.Length} cells, not 5: {line}");
            }

            if (cells[0] is "ID" || cells[0].StartsWith("---", StringComparison.Ordinal))
            {
                continue;
            }

            rows.Add(new AttackRow(cells[0], cells[1], Ticked(cells[2]), Ticked(cells[3])));
        }

        return rows;
    }

    private static string[] Ticked(string cell) => [.. TickedText().Matches(cell).Select(m => m.Groups[1].Value)];

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex TickedText();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenHgs.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("OpenHgs.slnx not found above " + AppContext.BaseDirectory);
    }
}
