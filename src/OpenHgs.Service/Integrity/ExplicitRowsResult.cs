namespace OpenHgs.Service.Integrity;

/// <summary>
/// What a start did for rows that must exist (<see cref="Admin.ExplicitSettings"/>, <see cref="Policies.ExplicitPolicyStates"/>):
/// the defaults it wrote, once, and the rows it found deleted and left missing (reading them fails closed).
/// </summary>
public sealed record ExplicitRowsResult(IReadOnlyList<string> Written, IReadOnlyList<string> Deleted)
{
    public static ExplicitRowsResult Complete { get; } = new([], []);
}
