using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Fuzz;

/// <summary>
/// Writes the seed corpus (fuzz/corpus/TARGET/*) from real inputs: the event logs and key protector vectors under
/// tests/, the TCG key templates (and two AKs holding a real public key), and structures marshalled by the product code itself (among them a version 2,
/// ES256 key protector). Run once when a target is
/// added; the seeds are committed. It also writes the health-certificate signer the health-certificate target trusts.
/// </summary>
public static class SeedWriter
{
    /// <summary>Logical name of the embedded DER certificate the health-certificate target trusts.</summary>
    public const string HealthSignerResource = "OpenHgs.Fuzz.HealthSigner.der";

    /// <summary>Issue time of the seed health certificates; the health-certificate target validates one hour later.</summary>
    public static readonly DateTimeOffset HealthIssuedAt = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Writes every target's seeds below <paramref name="repositoryRoot"/>/fuzz/corpus.</summary>
    public static void Write(string repositoryRoot)
    {
        ArgumentNullException.ThrowIfNull(repositoryRoot);
        string corpus = Path.Combine(repositoryRoot, "fuzz", "corpus");
        void Save(string target, string name, byte[] bytes)
        {
            Directory.CreateDirectory(Path.Combine(corpus, target));
            File.WriteAllBytes(Path.Combine(corpus, target, name), bytes);
        }

        WriteEventLogs(Path.Combine(repositoryRoot, "tests", "testdata", "eventlogs"), Save);
        WriteTpmStructures(Save);
        WriteProtocolDocuments(Path.Combine(repositoryRoot, "tests", "OpenHgs.Protocol.Tests", "Vectors", "key-protector-v1.json"), Save);
        WriteHealthCertificates(Path.Combine(repositoryRoot, "fuzz", "OpenHgs.Fuzz", "HealthSigner.der"), Save);
        WriteWireContracts(Save);
        WriteCrls(Save);
    }

    /// <summary>CRLs as a TPM manufacturer publishes them: RSA and ECDSA signed, empty and listing certificates.</summary>
    private static void WriteCrls(Action<string, string, byte[]> save)
    {
        var thisUpdate = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        using var rsa = RSA.Create(2048);
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        foreach (var (name, key) in new (string, AsymmetricAlgorithm)[] { ("rsa", rsa), ("ecdsa", ecdsa) })
        {
            var request = key is RSA r
                ? new CertificateRequest("CN=Fuzz TPM Intermediate", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                : new CertificateRequest("CN=Fuzz TPM Intermediate", (ECDsa)key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            using var issuer = request.CreateSelfSigned(thisUpdate.AddYears(-1), thisUpdate.AddYears(5));
            var generator = key is RSA k ? X509SignatureGenerator.CreateForRSA(k, RSASignaturePadding.Pkcs1) : X509SignatureGenerator.CreateForECDsa((ECDsa)key);
            var authority = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false);
            save("tpm-crl", $"{name}-empty.der", new CertificateRevocationListBuilder().Build(issuer.SubjectName, generator, 1, thisUpdate.AddDays(7),
                HashAlgorithmName.SHA256, authority, thisUpdate));
            var listing = new CertificateRevocationListBuilder();
            listing.AddEntry([0x01, 0x23, 0x45, 0x67, 0x89], thisUpdate.AddDays(-1), X509RevocationReason.KeyCompromise);
            listing.AddEntry([0x00, 0x80], thisUpdate.AddDays(-2), X509RevocationReason.CACompromise);
            save("tpm-crl", $"{name}-revoking.der", listing.Build(issuer.SubjectName, generator, 0x1234, thisUpdate.AddDays(7),
                HashAlgorithmName.SHA384, authority, thisUpdate));
        }
    }

    private static void WriteEventLogs(string folder, Action<string, string, byte[]> save)
    {
        // Two whole logs (SHA-1 legacy and crypto-agile) and the first events of each (small inputs fuzz fastest).
        foreach (string name in new[] { "debian-10.bin", "glinux-alex.bin" })
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(folder, name));
            save("event-log", name, bytes);
            var log = EventLogParser.Parse(bytes);
            int cut = log.Events[Math.Min(12, log.Events.Count - 1)].Offset;
            save("event-log", Path.ChangeExtension(name, ".head.bin"), bytes[..cut]);
        }
    }

    /// <summary>The host key template with a policy digest's worth of bytes, as a bound host key carries (design change 72).</summary>
    private static readonly TpmtPublic HostKey = TpmTemplates.HostEncryptionRsa2048(SHA256.HashData("PolicyPCR"u8));

    private static void WriteTpmStructures(Action<string, string, byte[]> save)
    {
        save("tpmt-public", "ek-rsa2048.bin", TpmTemplates.EkRsa2048.ToBytes());
        save("tpmt-public", "ak-rsa2048.bin", TpmTemplates.AkRsa2048.ToBytes());
        save("tpmt-public", "ak-ecc-p256.bin", TpmTemplates.AkEccP256.ToBytes());
        save("tpmt-public", "host-encryption-rsa2048.bin", HostKey.ToBytes());

        // The templates above have an empty key, which never imports; these AKs hold a real public key, so the seeds
        // reach the key import (PublicKeyPool) and the RSA and ECDSA verification behind it without mutation.
        using (var rsa = RSA.Create(2048))
        {
            save("tpmt-public", "ak-rsa2048-key.bin", (TpmTemplates.AkRsa2048 with
            {
                Parameters = (RsaParameters)TpmTemplates.AkRsa2048.Parameters with { Modulus = rsa.ExportParameters(false).Modulus! },
            }).ToBytes());
        }

        using (var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var q = ecdsa.ExportParameters(false).Q;
            save("tpmt-public", "ak-ecc-p256-key.bin", (TpmTemplates.AkEccP256 with
            {
                Parameters = (EccParameters)TpmTemplates.AkEccP256.Parameters with { X = q.X!, Y = q.Y! },
            }).ToBytes());
        }

        var clock = new TpmsClockInfo(1000, 2, 3, true);
        byte[] signer = [0x00, 0x0b, .. SHA256.HashData("ak"u8)];
        save("tpms-attest", "quote.bin", new TpmsAttest(TpmsAttest.GeneratedValue, TpmsAttest.AttestQuote, signer, [1, 2, 3], clock, 42,
            new QuoteInfo([PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1, 2, 3, 4, 5, 6, 7]), PcrSelection.Create(TpmAlgorithm.Sha1, [0])],
                SHA256.HashData("pcrs"u8))).ToBytes());
        save("tpms-attest", "certify.bin", new TpmsAttest(TpmsAttest.GeneratedValue, TpmsAttest.AttestCertify, signer, [1, 2, 3], clock, 42,
            new CertifyInfo(HostKey.ComputeName(), signer)).ToBytes());

        save("tpmt-signature", "rsassa.bin", new TpmtSignature(TpmAlgorithm.RsaSsa, TpmAlgorithm.Sha256, RandomBytes(256), []).ToBytes());
        save("tpmt-signature", "rsapss.bin", new TpmtSignature(TpmAlgorithm.RsaPss, TpmAlgorithm.Sha384, RandomBytes(256), []).ToBytes());
        save("tpmt-signature", "ecdsa.bin", new TpmtSignature(TpmAlgorithm.EcDsa, TpmAlgorithm.Sha256, RandomBytes(32), RandomBytes(32)).ToBytes());
        save("tpmt-signature", "null.bin", new TpmtSignature(TpmAlgorithm.Null, TpmAlgorithm.Null, [], []).ToBytes());
    }

    private static void WriteProtocolDocuments(string vectorsFile, Action<string, string, byte[]> save)
    {
        var vectors = JsonNode.Parse(File.ReadAllBytes(vectorsFile))!;
        save("key-protector", "vector-v1.json", Encoding.UTF8.GetBytes(vectors["keyProtector"]!["json"]!.GetValue<string>()));
        using (var owner = LocalGuardian.Parse(vectors["owner"]!.ToJsonString()))
        {
            save("key-protector", "vector-v2.json", KeyProtectorV2(owner));
        }

        var indented = new JsonSerializerOptions { WriteIndented = true };
        save("guardian-metadata", "owner.json", Encoding.UTF8.GetBytes(vectors["owner"]!["metadata"]!.ToJsonString(indented)));
        save("guardian-metadata", "guardian.json", Encoding.UTF8.GetBytes(vectors["guardian"]!["metadata"]!.ToJsonString()));
    }

    /// <summary>
    /// Format version 2 (ES256): a key protector for the vectors' owner and one key protection service guardian whose
    /// signing key is EC P-256, created by the owner and then rolled by that guardian, as a release does.
    /// </summary>
    private static byte[] KeyProtectorV2(LocalGuardian owner)
    {
        using var signingKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var encryptionKey = RSA.Create(2048);
        const string name = "Fabrikam EC";
        var (signing, encryption) = GuardianCertificates.Issue(name, signingKey, encryptionKey, HealthIssuedAt.AddYears(-1), HealthIssuedAt.AddYears(30));
        var fabric = new GuardianMetadata(name, signing, encryption, KeyProtectorAlgorithms.WrapAlgorithms);

        var created = KeyProtectorBuilder.Create(owner, [fabric], RandomBytes(32));
        var wrapping = created.FindWrappingForEncryptionCertificate(fabric.EncryptionCertificate)!;
        byte[] json = KeyProtectorBuilder.Roll(created, RandomBytes(32), signingKey, wrapping.Id).ToJson();

        var parsed = KeyProtector.Parse(json);
        if (parsed.Version != 2 || parsed.GuardianSignature.Algorithm != KeyProtectorAlgorithms.ES256)
        {
            throw new InvalidOperationException($"The rolled key protector is version {parsed.Version} ({parsed.GuardianSignature.Algorithm}), not 2 (ES256).");
        }

        KeyProtectorVerifier.VerifySignatures(parsed);
        return json;
    }

    private static void WriteHealthCertificates(string signerFile, Action<string, string, byte[]> save)
    {
        using var signerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=OpenHGS fuzz attestation signer", signerKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var signer = request.CreateSelfSigned(HealthIssuedAt.AddYears(-1), HealthIssuedAt.AddYears(30));
        File.WriteAllBytes(signerFile, signer.RawData);

        using var hostKey = RSA.Create(2048);
        var claims = new HealthClaims(AttestationMode.Tpm, 7, SHA256.HashData("evidence"u8), "host-1", HealthIssuedAt);
        save("health-certificate", "tpm-mode.der", HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, hostKey.ExportSubjectPublicKeyInfo(), HealthCertificateProfile.DefaultValidity),
            new HealthCertificateSigner(signer, signerKey)));
        save("health-verdict", "tpm-mode.der", HealthCertificateProfile.EncodeVerdict(claims));
        save("health-verdict", "host-key-mode.der", HealthCertificateProfile.EncodeVerdict(claims with { Mode = AttestationMode.HostKey, HostName = "h" }));
    }

    private static void WriteWireContracts(Action<string, string, byte[]> save)
    {
        string b64 = Convert.ToBase64String(RandomBytes(24));
        var at = HealthIssuedAt;
        void Save<T>(string name, T value, JsonTypeInfo<T> type) => save("wire", name + ".json", JsonSerializer.SerializeToUtf8Bytes(value, type));

        Save("attest-host-key", new AttestRequest(b64, new HostKeyEvidence(b64, b64, b64)), WireJson.Default.AttestRequest);
        Save("attest-tpm", new AttestRequest(b64, Tpm: new TpmEvidence(b64, b64, b64, b64, b64, b64, null, b64)), WireJson.Default.AttestRequest);
        Save("release", new ReleaseRequest(b64, b64, true), WireJson.Default.ReleaseRequest);
        Save("activation", new ActivationCompletion(b64, b64, b64), WireJson.Default.ActivationCompletion);
        Save("add-tpm-host", new AddTpmHostRequest("host-1", new TpmIdentity(1, b64, null), true), WireJson.Default.AddTpmHostRequest);
        Save("add-baseline", new AddBaselineRequest("b", new BaselineDocument(1, "class", at, b64,
            new Dictionary<string, IReadOnlyDictionary<string, string>> { ["sha256"] = new Dictionary<string, string> { ["0"] = "00" } }, true)),
            WireJson.Default.AddBaselineRequest);
        Save("deny-before", new DenyBeforeRequest(at), WireJson.Default.DenyBeforeRequest);
        Save("audit-verify", new AuditVerifyRequest(new AuditCheckpointFile(AuditCheckpointFile.FileKind, 12, "00ff", at, "ab", b64, "label", b64)),
            WireJson.Default.AuditVerifyRequest);
    }

    private static byte[] RandomBytes(int count) => RandomNumberGenerator.GetBytes(count);
}
