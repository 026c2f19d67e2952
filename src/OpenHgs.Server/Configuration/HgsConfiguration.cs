using System.Text.Json;
using System.Text.Json.Serialization;
using OpenHgs.Crypto;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Keys;

namespace OpenHgs.Server.Configuration;

/// <summary>
/// <c>DATA/hgs.json</c>, written by <c>hgs server init</c>: where the keys and the database are, and optionally the
/// service's TLS (<see cref="TlsSettings"/>). It holds no secrets: the HSM PIN, any key store passphrase and a
/// PKCS#12 password are named by a source (<c>env:VAR</c>), never stored. Still, it decides where keys and data are and
/// how releases handle transport keys, so it is written 0600 and refused when group or others may access it.
/// </summary>
public sealed record HgsConfiguration(
    int Version,
    string KeyStore,
    string Database,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] TlsSettings? Tls = null)
{
    public const string FileName = "hgs.json";

    /// <summary>
    /// <c>hsm-only</c> or <c>allow-memory</c> (see <see cref="Service.KeyProtection.ReleaseKeyHandling"/>); written by init.
    /// Lives here and not in the database, so that a database writer cannot downgrade it. Absent in folders made
    /// before the setting existed: then the start-up default applies (<see cref="HgsRuntime.DefaultReleaseKeyHandling"/>).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ReleaseKeyHandling { get; init; }

    /// <summary>The parsed <see cref="ReleaseKeyHandling"/>, or null when the file does not set it.</summary>
    [JsonIgnore]
    public ReleaseKeyHandling? ReleaseKeyHandlingMode => ReleaseKeyHandlingNames.TryParse(ReleaseKeyHandling);

    /// <summary>
    /// The type of new KPS signing keys: <c>ec-p256</c> (ES256 rolled key protectors; what init writes unless told
    /// otherwise), <c>rsa-2048</c>, <c>rsa-3072</c> or <c>rsa-4096</c> (RS256). Absent in folders made before the setting
    /// existed: their new signing keys stay RSA-2048 (<see cref="KpsSigningKeyAlgorithms.Legacy"/>). Existing keys keep
    /// their type either way.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? KpsSigningKeyAlgorithm { get; init; }

    /// <summary>How this node makes new fabric keys (<see cref="KpsSigningKeyAlgorithm"/>, or the legacy type when absent).</summary>
    [JsonIgnore]
    public FabricKeyOptions FabricKeyOptions =>
        new(KpsSigningKeyAlgorithms.TryParse(KpsSigningKeyAlgorithm) ?? KpsSigningKeyAlgorithms.Legacy);

    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    public static HgsConfiguration Load(string dataDirectory)
    {
        string path = PathIn(dataDirectory);
        if (!File.Exists(path))
        {
            throw new HgsConfigurationException("data", $"'{dataDirectory}' is not an initialised OpenHGS data folder (no {FileName}); run 'hgs server init --data {dataDirectory} ...' first.");
        }

        if (OwnerOnlyFile.AccessProblem(path) is { } problem)
        {
            throw new HgsConfigurationException(FileName, "the configuration file " + problem);
        }

        HgsConfiguration? configuration;
        try
        {
            configuration = JsonSerializer.Deserialize(File.ReadAllBytes(path), HgsConfigurationJson.Default.HgsConfiguration);
        }
        catch (JsonException ex)
        {
            throw new HgsConfigurationException(FileName, $"{path} is not valid JSON: {ex.Message}");
        }

        if (configuration is null || configuration.Version != 1)
        {
            throw new HgsConfigurationException("version", $"{path} has an unsupported version (expected 1).");
        }

        if (string.IsNullOrWhiteSpace(configuration.KeyStore))
        {
            throw new HgsConfigurationException("keyStore", $"{path} names no key store.");
        }

        if (string.IsNullOrWhiteSpace(configuration.Database))
        {
            throw new HgsConfigurationException("database", $"{path} names no database.");
        }

        configuration.Tls?.Validate();

        if (configuration.ReleaseKeyHandling is { } handling && configuration.ReleaseKeyHandlingMode is null)
        {
            throw new HgsConfigurationException("releaseKeyHandling",
                $"{path}: releaseKeyHandling '{handling}' is not {ReleaseKeyHandlingNames.HsmOnly} or {ReleaseKeyHandlingNames.AllowMemory}.");
        }

        if (configuration.KpsSigningKeyAlgorithm is { } signing && KpsSigningKeyAlgorithms.TryParse(signing) is null)
        {
            throw new HgsConfigurationException("kpsSigningKeyAlgorithm",
                $"{path}: kpsSigningKeyAlgorithm '{signing}' is not one of {string.Join(", ", KpsSigningKeyAlgorithms.Names)}.");
        }

        return configuration;
    }

    /// <summary>Writes the file atomically, mode 0600.</summary>
    public void Save(string dataDirectory) =>
        OwnerOnlyFile.Replace(PathIn(dataDirectory), JsonSerializer.SerializeToUtf8Bytes(this, HgsConfigurationJson.Default.HgsConfiguration));
}

/// <summary>The service configuration is wrong; <see cref="Field"/> names what to fix.</summary>
public sealed class HgsConfigurationException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(HgsConfiguration))]
internal sealed partial class HgsConfigurationJson : JsonSerializerContext;
