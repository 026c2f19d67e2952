using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client;

/// <summary>
/// A guarded host's keys for host-key attestation: a signing key (its public half is what the admin registers) of a kind
/// the service accepts (<see cref="HostSigningKeys"/>: ECDSA P-256, the default <see cref="Generate"/> makes, or P-384, or
/// RSA of at least 2048 bits), and an RSA-2048 encryption key (what health certificates certify and transport keys are
/// wrapped to). Private keys are PKCS#8 PEM files created 0600.
/// </summary>
public sealed class HostKeyPair : IDisposable
{
    public const string SigningKeyFile = "host-signing.key";
    public const string EncryptionKeyFile = "host-encryption.key";
    public const string PublicKeyFile = "host-signing.pub.pem";

    /// <summary>The kinds of key a signing key file may hold, in the order they are tried.</summary>
    private static readonly Func<AsymmetricAlgorithm>[] SigningKeyKinds = [() => ECDsa.Create(), () => RSA.Create()];

    private readonly HostEvidenceSignature _evidenceSignature;

    private HostKeyPair(AsymmetricAlgorithm signing, RSA encryption, HostEvidenceSignature evidenceSignature)
    {
        SigningKey = signing;
        EncryptionKey = encryption;
        _evidenceSignature = evidenceSignature;
    }

    /// <summary>The signing key: an <see cref="ECDsa"/> or an <see cref="RSA"/>.</summary>
    public AsymmetricAlgorithm SigningKey { get; }

    public RSA EncryptionKey { get; }

    public byte[] SigningPublicKey => SigningKey.ExportSubjectPublicKeyInfo();

    public byte[] EncryptionPublicKey => EncryptionKey.ExportSubjectPublicKeyInfo();

    /// <summary>
    /// The host-key evidence signature over <see cref="HostKeyEvidenceMessage.Build"/> for <paramref name="nonce"/> and
    /// this host's encryption key: ES256 with a P-256 signing key, ES384 with a P-384 one (r‖s), RS256 with an RSA one. The
    /// scheme is the one the service verifies with, from the same rule (<see cref="HostSigningKeys.Judge"/>): any other
    /// would be refused <c>SignatureInvalid</c> on every attestation.
    /// </summary>
    public byte[] SignEvidence(ReadOnlySpan<byte> nonce) =>
        _evidenceSignature.Sign(SigningKey, HostKeyEvidenceMessage.Build(nonce, EncryptionPublicKey));

    /// <summary>
    /// Generates both keys into <paramref name="directory"/> (refusing to overwrite), the signing key of
    /// <paramref name="signingKeyType"/> (P-256 unless told), and returns the public key file path.
    /// </summary>
    public static string Generate(string directory, HostSigningKeyType signingKeyType = HostSigningKeyType.P256)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string signingPath = Path.Combine(directory, SigningKeyFile);
        if (File.Exists(signingPath) || File.Exists(Path.Combine(directory, EncryptionKeyFile)))
        {
            throw new HgsClientException("HostKeyExists", $"'{directory}' already holds host keys; refusing to overwrite them.");
        }

        using AsymmetricAlgorithm signing = HostSigningKeyTypes.Create(signingKeyType);
        using var encryption = RSA.Create(2048);
        OwnerOnlyFile.CreateNew(signingPath, System.Text.Encoding.ASCII.GetBytes(signing.ExportPkcs8PrivateKeyPem()));
        OwnerOnlyFile.CreateNew(Path.Combine(directory, EncryptionKeyFile), System.Text.Encoding.ASCII.GetBytes(encryption.ExportPkcs8PrivateKeyPem()));
        string publicPath = Path.Combine(directory, PublicKeyFile);
        File.WriteAllText(publicPath, signing.ExportSubjectPublicKeyInfoPem() + "\n");
        return Path.GetFullPath(publicPath);
    }

    /// <summary>
    /// Loads the keys from <paramref name="directory"/> and checks them as the service will (so <c>hgs client configure</c>
    /// refuses what could never attest): the signing key by the service's own rule (<see cref="HostSigningKeys.Judge"/>:
    /// P-256, P-384 or RSA of at least 2048 bits), the encryption key RSA of at least 2048 bits.
    /// </summary>
    /// <exception cref="HgsClientException"><c>HostKeyMissing</c>: a key file is absent; <c>HostKeyExposed</c>: group or others
    /// may access a key file (the message names it and its mode); <c>HostKeyInvalid</c>: a key does not read, or is one the
    /// service refuses (the message names the curve or the size).</exception>
    public static HostKeyPair Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string signingPem = ReadKey(directory, SigningKeyFile);
        string encryptionPem = ReadKey(directory, EncryptionKeyFile);
        AsymmetricAlgorithm? signing = null;
        var encryption = RSA.Create();
        try
        {
            try
            {
                signing = ImportSigningKey(signingPem);
                encryption.ImportFromPem(encryptionPem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                throw new HgsClientException("HostKeyInvalid", $"The host keys in '{directory}' cannot be read: {ex.Message}");
            }

            var verdict = HostSigningKeys.Judge(signing.ExportSubjectPublicKeyInfo());
            if (!verdict.IsAccepted)
            {
                throw new HgsClientException("HostKeyInvalid", $"The host signing key is one the attestation service refuses: {verdict.Refusal}");
            }

            if (encryption.KeySize < 2048)
            {
                throw new HgsClientException("HostKeyInvalid", $"The host encryption key is RSA-{encryption.KeySize}; the key protection service releases only to RSA keys of at least 2048 bits.");
            }

            return new HostKeyPair(signing, encryption, verdict.Signature);
        }
        catch
        {
            signing?.Dispose();
            encryption.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        SigningKey.Dispose();
        EncryptionKey.Dispose();
    }

    /// <summary>
    /// The signing key in <paramref name="pem"/>, as the kind its PEM holds: an EC key (PKCS#8 or SEC 1) or an RSA key
    /// (PKCS#8 or PKCS#1). Whether the service accepts it is judged afterwards, from its public key.
    /// </summary>
    private static AsymmetricAlgorithm ImportSigningKey(string pem)
    {
        Exception? failure = null;
        foreach (Func<AsymmetricAlgorithm> create in SigningKeyKinds)
        {
            var key = create();
            try
            {
                key.ImportFromPem(pem);
                return key;
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                key.Dispose();
                failure = ex;
            }
        }

        throw new CryptographicException($"the signing key is neither an EC nor an RSA private key ({failure?.Message})", failure);
    }

    private static string ReadKey(string directory, string file)
    {
        string path = Path.Combine(directory, file);
        if (!File.Exists(path))
        {
            throw new HgsClientException("HostKeyMissing", $"'{path}' does not exist; run 'hgs client keygen --out {directory}'.");
        }

        // The rule the service applies to its own secrets (hgs.json, the sealing key): a key others may read is not the
        // host's alone, since whoever reads it attests as the host or decrypts the keys released to it.
        return OwnerOnlyFile.AccessProblem(path) is { } exposed
            ? throw new HgsClientException("HostKeyExposed", exposed)
            : File.ReadAllText(path);
    }
}
