using System.Text.Json;
using System.Text.Json.Serialization;
using OpenHgs.Crypto;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>
/// A vTPM that <c>hgs client vm-start</c> started on this host, as <c>vm-stop</c> finds it: kept in the client state
/// folder (<c>vms/NAME.json</c>, 0600), one per VM name, so a VM cannot be started twice on a host and its vTPM is
/// stopped through the channel it was started on. Holds no secret.
/// </summary>
public sealed record RunningVtpm(string Vm, string Bundle, int Pid, string? Socket, int? TcpPort, DateTimeOffset StartedAt)
{
    public const string Folder = "vms";

    [JsonIgnore]
    public VtpmChannel Channel => new(Socket, TcpPort);

    /// <summary>The record's path for VM <paramref name="vm"/> (a valid VM name) in <paramref name="stateDirectory"/>.</summary>
    public static string PathFor(string stateDirectory, string vm)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        if (!ShieldedVmBundle.IsValidName(vm))
        {
            throw new ArgumentException($"'{vm}' is not a VM name.", nameof(vm));
        }

        return Path.Combine(stateDirectory, Folder, vm + ".json");
    }

    /// <summary>The record of VM <paramref name="vm"/>, or null when it has none (never started here, or stopped).</summary>
    public static RunningVtpm? Find(string stateDirectory, string vm)
    {
        string path = PathFor(stateDirectory, vm);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), RunningVtpmJson.Default.RunningVtpm)
                ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new VtpmException("VtpmRecordInvalid", $"{path} is not a running-vTPM record ({ex.Message.Split('.')[0]}); remove it once no swtpm runs for '{vm}'.");
        }
    }

    /// <summary>Writes this record (it must not exist: a VM runs once per host).</summary>
    public void Save(string stateDirectory)
    {
        string path = PathFor(stateDirectory, Vm);
        OwnerOnlyFile.CreateDirectory(Path.GetDirectoryName(path)!);
        OwnerOnlyFile.CreateNew(path, JsonSerializer.SerializeToUtf8Bytes(this, RunningVtpmJson.Default.RunningVtpm));
    }

    public static void Remove(string stateDirectory, string vm) => File.Delete(PathFor(stateDirectory, vm));
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(RunningVtpm))]
internal sealed partial class RunningVtpmJson : JsonSerializerContext;
