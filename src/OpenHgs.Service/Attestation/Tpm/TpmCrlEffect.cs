using System.Security.Cryptography.X509Certificates;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Storage;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// What a CRL just imported does to the hosts already registered (design change 75): those whose stored EK chain it
/// revokes (with the serial, the CRL's issuer and number), and the TPM hosts it cannot reach because no chain is stored
/// for them. Reported to the admin and in the import's audit record, so the effect is seen at once.
/// </summary>
internal sealed record TpmCrlEffect(IReadOnlyList<(string Host, string Detail)> RevokedHosts, IReadOnlyList<string> UncheckedHosts)
{
    /// <summary>The import record's detail naming the hosts the CRL revokes (comma-separated names).</summary>
    public const string RevokedHostsDetail = "revokedHosts";

    /// <summary>The import record's detail counting the TPM hosts no CRL can reach.</summary>
    public const string UncheckedHostsDetail = "uncheckedHosts";

    public string RecordedRevokedHosts => string.Join(",", RevokedHosts.Select(h => h.Host));

    public string RecordedUncheckedHosts => UncheckedHosts.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Checks every registered TPM host's stored chain against <paramref name="crl"/> alone, issued by <paramref name="issuer"/>.</summary>
    public static async Task<TpmCrlEffect> OfAsync(HgsSession s, RevocationList crl, X509Certificate2 issuer, DateTimeOffset now)
    {
        var index = EkRevocationIndex.Build(new EkRevocationData([crl], new HashSet<string>()), [issuer]);
        var revoked = new List<(string, string)>();
        var notReached = new List<string>();
        foreach (var host in (await s.Hosts.ListAsync().ConfigureAwait(false)).Rows.Where(h => h.Mode == AttestationModeNames.Tpm))
        {
            if (string.IsNullOrEmpty(host.EkChain))
            {
                notReached.Add(host.Name);
            }
            else if (index.Check(EkRevocationPath.Parse(host.EkChain), now) is { Failure: EkCertificateFailure.Revoked } result)
            {
                revoked.Add((host.Name, result.Detail));
            }
        }

        return new TpmCrlEffect(revoked, notReached);
    }
}
