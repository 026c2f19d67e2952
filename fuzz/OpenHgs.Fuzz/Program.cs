using OpenHgs.Fuzz;
using SharpFuzz;

// OpenHgs.Fuzz TARGET               run TARGET under afl-fuzz (SharpFuzz in-process persistent mode, input on stdin)
// OpenHgs.Fuzz replay TARGET FILE…  run TARGET once per file in this process (accepted/refused); exit 1 on the first finding
// OpenHgs.Fuzz list                 the target table
// OpenHgs.Fuzz seeds REPO_ROOT      (re)write fuzz/corpus from tests/ and product code
const int BadInput = 2;

static int Fail(string message)
{
    Console.Error.WriteLine("error: " + message);
    return BadInput;
}

static FuzzTarget? Resolve(string name) => FuzzTargets.Find(name);

switch (args)
{
    case ["list"]:
        foreach (var t in FuzzTargets.All)
        {
            Console.WriteLine($"{t.Name,-20} {t.Description}");
        }
        return 0;

    case ["seeds", var root]:
        SeedWriter.Write(Path.GetFullPath(root));
        return 0;

    case ["replay", var name, .. var files] when files.Length > 0:
    {
        if (Resolve(name) is not { } target)
        {
            return Fail($"unknown target '{name}' (see: list)");
        }

        foreach (string file in files)
        {
            try
            {
                Console.WriteLine($"{(target.Execute(File.ReadAllBytes(file)) ? "accepted" : "refused ")} {file}");
            }
            catch (Exception ex) when (ex is not IOException)
            {
                Console.Error.WriteLine($"finding: {file}: {ex}");
                return 1;
            }
        }

        Console.WriteLine($"{files.Length} inputs replayed, no finding");
        return 0;
    }

    case [var name] when !name.StartsWith('-'):
    {
        if (Resolve(name) is not { } target)
        {
            return Fail($"unknown target '{name}' (see: list)");
        }

        var buffer = new MemoryStream();
        Fuzzer.Run(stream =>
        {
            buffer.SetLength(0);
            stream.CopyTo(buffer);
            target.Execute(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        });
        return 0;
    }

    default:
        return Fail("usage: OpenHgs.Fuzz TARGET | replay TARGET FILE... | list | seeds REPO_ROOT");
}
