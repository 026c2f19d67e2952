namespace OpenHgs.Fuzz;

/// <summary>
/// One fuzz target: a parser that reads attacker-controlled bytes, plus what the service does with its result.
/// </summary>
/// <remarks>
/// Security contract: <see cref="Execute"/> returns normally when the input is accepted or refused with the
/// parser's documented rejection exception; any other exception escapes and is a finding (a crash to AFL, a
/// failed regression test to xunit). Targets hold no mutable state, and <see cref="Execute"/> empties product code's
/// process-wide memos around every input (<see cref="ProcessMemos"/>), so one input always takes the same path.
/// </remarks>
public abstract class FuzzTarget
{
    /// <summary>The name used on the command line and as the corpus folder (fuzz/corpus/NAME).</summary>
    public abstract string Name { get; }

    /// <summary>One line: what is parsed and which exception is the documented refusal.</summary>
    public abstract string Description { get; }

    /// <summary>Runs the target: true when the input was accepted, false when it was refused as documented; anything else escapes.</summary>
    public bool Execute(ReadOnlySpan<byte> input)
    {
        // Before: the input starts from empty memos whatever ran earlier in the process (a replay, other tests). After:
        // it leaves nothing behind, so the next input's clearing (instrumented code too) takes the same path whatever
        // this input held.
        ProcessMemos.Clear();
        try
        {
            Run(input);
            return true;
        }
        catch (Exception ex) when (IsRejection(ex))
        {
            // The parser refused the input the way its contract says it will.
            return false;
        }
        finally
        {
            ProcessMemos.Clear();
        }
    }

    /// <summary>Parses the input and exercises what the service does with an accepted result.</summary>
    protected abstract void Run(ReadOnlySpan<byte> input);

    /// <summary>True for the parser's documented rejection exception(s).</summary>
    protected abstract bool IsRejection(Exception exception);
}

/// <summary>A target whose parser documents exactly one rejection exception type.</summary>
public abstract class FuzzTarget<TRejection> : FuzzTarget
    where TRejection : Exception
{
    protected sealed override bool IsRejection(Exception exception) => exception is TRejection;
}
