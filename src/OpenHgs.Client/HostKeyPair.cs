using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client;

/// <summary>
/// A guarded host's keys for host-key attestation: an ECDSA signing key (its public half is what the admin
/// registers; <see cref="Generate"/> makes P-256, and a P-384 key put in its place works too) and an RSA-2048
/// encryption key (what health certificates certify and transport keys are wrapped to). Private keys are PKCS#8 PEM
/// files created 0600.
/// </summary>
public sealed class HostKeyPair : IDisposable
{
    public const string SigningKeyFile = "host-signing.key";
    public const string EncryptionKeyFile = "host-encryption.key";
    public const string PublicKeyFile = "host-signing.pub.pem";

    private readonly HashAlgorithmName _evidenceHash;

    private HostKeyPair(ECDsa signing, RSA encryption, HashAlgorithmName evidenceHash)
    {
        SigningKey = signing;
        EncryptionKey = encryption;
        _evidenceHash = evidenceHash;
    }

    public ECDsa SigningKey { get; }

    public RSA EncryptionKey { get; }

    public byte[] SigningPublicKey => SigningKey.ExportSubjectPublicKeyInfo();

    public byte[] EncryptionPublicKey => EncryptionKey.ExportSubjectPublicKeyInfo();

    /// <summary>
    /// The host-key evidence signature over <see cref="HostKeyEvidenceMessage.Build"/> for <paramref name="nonce"/> and
    /// this host's encryption key: ES256 with a P-256 signing key, ES384 with a P-384 one (r‖s). The hash follows the
    /// curve the key's SPKI names, by the rule the service verifies with (<see cref="HostKeyEvidenceMessage.EcdsaHash"/>):
    /// any other hash for the curve would be refused <c>SignatureInvalid</c> on every attestation.
    /// </summary>
    public byte[] SignEvidence(ReadOnlySpan<byte> nonce) =>
        SigningKey.SignData(HostKeyEvidenceMessage.Build(nonce, EncryptionPublicKey), _evidenceHash);

    /// <summary>Generates both keys into <paramref name="directory"/> (refusing to overwrite) and returns the public key file path.</summary>
    public static string Generate(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string signingPath = Path.Combine(directory, SigningKeyFile);
        if (File.Exists(signingPath) || File.Exists(Path.Combine(directory, EncryptionKeyFile)))
        {
            throw new HgsClientException("HostKeyExists", $"'{directory}' already holds host keys; refusing to overwrite them.");
        }

        using var signing = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var encryption = RSA.Create(2048);
        OwnerOnlyFile.CreateNew(signingPath, System.Text.Encoding.ASCII.GetBytes(signing.ExportPkcs8PrivateKeyPem()));
        OwnerOnlyFile.CreateNew(Path.Combine(directory, EncryptionKeyFile), System.Text.Encoding.ASCII.GetBytes(encryption.ExportPkcs8PrivateKeyPem()));
        string publicPath = Path.Combine(directory, PublicKeyFile);
        File.WriteAllText(publicPath, signing.ExportSubjectPublicKeyInfoPem() + "\n");
        return Path.GetFullPath(publicPath);
    }

    /// <summary>
    /// Loads the keys from <paramref name="directory"/> and checks them as the service will (so <c>hgs client configure</c>
    /// refuses what could never attest): the signing key on P-256 or P-384, the encryption key RSA of at least 2048 bits.
    /// </summary>
    /// <exception cref="HgsClientException"><c>HostKeyMissing</c>: a key file is absent; <c>HostKeyInvalid</c>: a key does not
    /// read, or is one the service refuses (the message names the curve or the size).</exception>
    public static HostKeyPair Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var signing = ECDsa.Create();
        var encryption = RSA.Create();
        try
        {
            try
            {
                signing.ImportFromPem(ReadKey(directory, SigningKeyFile));
                encryption.ImportFromPem(ReadKey(directory, EncryptionKeyFile));
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                throw new HgsClientException("HostKeyInvalid", $"The host keys in '{directory}' cannot be read: {ex.Message}");
            }

            string? curve = SubjectPublicKeyInfoReader.ReadEcNamedCurve(signing.ExportSubjectPublicKeyInfo());
            var hash = HostKeyEvidenceMessage.EcdsaHash(curve) ?? throw new HgsClientException(
                "HostKeyInvalid",
                $"The host signing key is on {(curve is null ? "a curve given by explicit parameters" : "curve " + curve)}; the attestation service accepts P-256 or P-384 keys only.");
            if (encryption.KeySize < 2048)
            {
                throw new HgsClientException("HostKeyInvalid", $"The host encryption key is RSA-{encryption.KeySize}; the key protection service releases only to RSA keys of at least 2048 bits.");
            }

            return new HostKeyPair(signing, encryption, hash);
        }
        catch
        {
            signing.Dispose();
            encryption.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        SigningKey.Dispose();
        EncryptionKey.Dispose();
    }

    private static string ReadKey(string directory, string file)
    {
        string path = Path.Combine(directory, file);
        return File.Exists(path)
            ? File.ReadAllText(path)
            : throw new HgsClientException("HostKeyMissing", $"'{path}' does not exist; run 'hgs client keygen --out {directory}'.");
    }
}
