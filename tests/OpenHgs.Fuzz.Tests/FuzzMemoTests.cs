using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMemoCollection
{
    /// <summary>Reads process-wide memos, so no other test may fill or empty them meanwhile.</summary>
    public const string Name = "process-wide memos";
}

/// <summary>
/// Every input starts from, and leaves, empty process-wide memos: AFL runs every input in one process, and a memo hit
/// would send a repeated input down a shorter path than its first run.
/// </summary>
[Collection(ProcessMemoCollection.Name)]
public sealed class FuzzMemoTests
{
    private static readonly string GuardianSeed = Path.Combine(FuzzCorpus.Seeds("guardian-metadata"), "guardian.json");

    public static TheoryData<string, string> Seeds()
    {
        var data = new TheoryData<string, string>();
        foreach (var (target, kind, file) in FuzzCorpus.Inputs().Where(i => i.Kind == "corpus"))
        {
            data.Add(target, file);
        }

        return data;
    }

    [Fact]
    public void An_input_starts_from_empty_memos_whatever_ran_before_it()
    {
        // Product code outside the harness fills every memo: two certificates, two signature checks, one key.
        GuardianMetadata.Parse(File.ReadAllText(GuardianSeed));
        Assert.All(ProcessMemos.Held, memo => Assert.True(memo.Value > 0, $"{memo.Key} was not filled"));

        var probe = new ProbeTarget(() => { });
        probe.Execute([]);

        AssertEmpty(probe.HeldAtStart!);
    }

    [Fact]
    public void Memos_an_input_fills_are_empty_after_it()
    {
        string json = File.ReadAllText(GuardianSeed);
        var probe = new ProbeTarget(() => GuardianMetadata.Parse(json));

        probe.Execute([]);

        Assert.All(probe.HeldAtEnd!, memo => Assert.True(memo.Value > 0, $"{memo.Key} was not used by the input"));
        AssertEmpty(ProcessMemos.Held);
        Assert.Equal(0, PublicKeyPool.Shared.Count);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Each_seed_run_twice_leaves_every_memo_empty(string target, string file)
    {
        var fuzzTarget = FuzzTargets.Find(target)!;
        byte[] input = File.ReadAllBytes(Path.Combine(FuzzCorpus.Seeds(target), file));
        ProcessMemos.Clear();

        Assert.True(fuzzTarget.Execute(input));
        AssertEmpty(ProcessMemos.Held);
        Assert.True(fuzzTarget.Execute(input));
        AssertEmpty(ProcessMemos.Held);
    }

    [Fact]
    public void A_tpm_key_the_target_imports_is_not_pooled_from_one_input_to_the_next()
    {
        // The committed TPM seeds are templates with an empty key, which never imports; this AK holds a real modulus.
        using var rsa = RSA.Create(2048);
        var ak = TpmTemplates.AkRsa2048 with
        {
            Parameters = (RsaParameters)TpmTemplates.AkRsa2048.Parameters with { Modulus = rsa.ExportParameters(false).Modulus! },
        };
        var signature = new TpmtSignature(TpmAlgorithm.RsaSsa, TpmAlgorithm.Sha256, new byte[256], []);
        ProcessMemos.Clear();
        Assert.Equal(AttestationFailure.BadSignature, SignatureVerifier.Verify(ak, "data"u8, signature).Failure);
        Assert.Equal(1, PublicKeyPool.Shared.Count); // the key imported and was pooled

        var target = FuzzTargets.Find("tpmt-public")!;
        Assert.True(target.Execute(ak.ToBytes()));
        Assert.Equal(0, PublicKeyPool.Shared.Count);
        Assert.True(target.Execute(ak.ToBytes()));
        Assert.Equal(0, PublicKeyPool.Shared.Count);
    }

    [Fact]
    public void Every_static_memo_the_targets_can_reach_is_one_the_harness_clears()
    {
        // Memo-shaped static fields (auto-property backing fields included) in every OpenHgs assembly the harness loads.
        // A static Dictionary used as a cache would escape this net: product code keeps memos in these types.
        Type[] memoTypes = [typeof(BoundedMemo<>), typeof(PublicKeyPool), typeof(ConcurrentDictionary<,>), typeof(ConditionalWeakTable<,>)];
        var found = (
            from assembly in OpenHgsAssemblies()
            from type in assembly.GetTypes()
            from field in type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            let fieldType = field.FieldType.IsGenericType ? field.FieldType.GetGenericTypeDefinition() : field.FieldType
            where memoTypes.Contains(fieldType)
            select $"{type.Name}.{MemberName(field)}").Order(StringComparer.Ordinal).ToList();

        Assert.Equal(ProcessMemos.Held.Keys.Order(StringComparer.Ordinal), found);
    }

    private static void AssertEmpty(IReadOnlyDictionary<string, int> held) =>
        Assert.All(held, memo => Assert.True(memo.Value == 0, $"{memo.Key} holds {memo.Value} entries"));

    // "<Shared>k__BackingField" is the property Shared.
    private static string MemberName(FieldInfo field) =>
        field.Name.StartsWith('<') ? field.Name[1..field.Name.IndexOf('>', StringComparison.Ordinal)] : field.Name;

    private static List<Assembly> OpenHgsAssemblies()
    {
        var seen = new Dictionary<string, Assembly>(StringComparer.Ordinal);
        var pending = new Queue<Assembly>([typeof(FuzzTarget).Assembly]);
        while (pending.TryDequeue(out var assembly))
        {
            if (!seen.TryAdd(assembly.GetName().Name!, assembly))
            {
                continue;
            }

            foreach (var reference in assembly.GetReferencedAssemblies().Where(r => r.Name!.StartsWith("OpenHgs.", StringComparison.Ordinal)))
            {
                pending.Enqueue(Assembly.Load(reference));
            }
        }

        Assert.Superset(new HashSet<string>(["OpenHgs.Crypto", "OpenHgs.Protocol", "OpenHgs.Tpm"]), seen.Keys.ToHashSet());
        return [.. seen.Values];
    }

    /// <summary>Records the memos as its input starts and ends, and runs <paramref name="work"/> between.</summary>
    private sealed class ProbeTarget(Action work) : FuzzTarget<FormatException>
    {
        public IReadOnlyDictionary<string, int>? HeldAtStart { get; private set; }

        public IReadOnlyDictionary<string, int>? HeldAtEnd { get; private set; }

        public override string Name => "probe";

        public override string Description => "records the memos";

        protected override void Run(ReadOnlySpan<byte> input)
        {
            HeldAtStart = ProcessMemos.Held;
            work();
            HeldAtEnd = ProcessMemos.Held;
        }
    }
}
