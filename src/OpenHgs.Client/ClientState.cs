using System.Text.Json;
using System.Text.Json.Serialization;

namespace OpenHgs.Client;

/// <summary>
/// A guarded host's configuration (<c>STATE/client.json</c>): which attestation and key protection URLs to use,
/// in order of preference, and where its keys are. The last health certificate is kept beside it.
/// </summary>
/// <remarks>
/// Exactly one attestation mode is configured: <see cref="HostKeyDirectory"/> (host-key mode) or <see cref="Tpm"/>
/// (TPM mode: <c>/dev/tpmrm0</c> or <c>swtpm:host=…,port=N</c>, with the TCG event log at <see cref="EventLog"/>).
/// <see cref="CaCertificate"/> (absolute path) is the CA the service's https certificate must chain to; it requires
/// every URL to be https, so nothing this host sends or receives crosses the network in clear by mistake.
/// </remarks>
public sealed record ClientConfiguration(
    IReadOnlyList<string> AttestationUrls,
    IReadOnlyList<string> KeyProtectionUrls,
    string? HostKeyDirectory,
    string? Tpm = null,
    string? EventLog = null,
    string? CaCertificate = null)
{
    public const string FileName = "client.json";
    public const string DefaultEventLog = "/sys/kernel/security/tpm0/binary_bios_measurements";

    /// <summary>How this host checks the service's certificate: exactly the CA in <see cref="CaCertificate"/>, else the system roots.</summary>
    public ClientTlsOptions Tls => new(CaCertificate);

    /// <summary>The event log this host presents in TPM mode.</summary>
    public string EventLogPath => EventLog ?? DefaultEventLog;
    public const string HealthCertificateFile = "health.cer";

    public static ClientConfiguration Load(string stateDirectory)
    {
        string path = Path.Combine(stateDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new HgsClientException("NotConfigured", $"'{stateDirectory}' is not configured; run 'hgs client configure --state {stateDirectory} ...' first.");
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ClientJson.Default.ClientConfiguration)
                ?? throw new HgsClientException("NotConfigured", $"{path} is empty.");
        }
        catch (JsonException ex)
        {
            throw new HgsClientException("ConfigurationInvalid", $"{path} is not valid: {ex.Message}");
        }
    }

    public void Save(string stateDirectory)
    {
        Validate();
        Directory.CreateDirectory(stateDirectory);
        File.WriteAllBytes(Path.Combine(stateDirectory, FileName), JsonSerializer.SerializeToUtf8Bytes(this, ClientJson.Default.ClientConfiguration));
    }

    public void Validate()
    {
        if ((HostKeyDirectory is null) == (Tpm is null))
        {
            throw new HgsClientException("ConfigurationInvalid", "Configure exactly one of --host-key (host-key mode) and --tpm (TPM mode).");
        }

        foreach (var (name, urls) in new[] { ("attestation-url", AttestationUrls), ("key-protection-url", KeyProtectionUrls) })
        {
            if (urls.Count == 0)
            {
                throw new HgsClientException("ConfigurationInvalid", $"--{name}: at least one URL is needed.");
            }

            foreach (string url in urls)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    throw new HgsClientException("ConfigurationInvalid", $"--{name}: '{url}' is not an http(s) URL.");
                }

                if (CaCertificate is not null && uri.Scheme != Uri.UriSchemeHttps)
                {
                    throw new HgsClientException("ConfigurationInvalid", $"--{name}: '{url}' is plain http but --ca-cert is given: use the https URL.");
                }
            }
        }
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(ClientConfiguration))]
internal sealed partial class ClientJson : JsonSerializerContext;
