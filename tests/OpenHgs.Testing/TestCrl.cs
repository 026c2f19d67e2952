using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Testing;

/// <summary>
/// CRLs for tests, made with .NET's <see cref="CertificateRevocationListBuilder"/> (the CA side the service never has):
/// signed by an issuer's key whatever its key usage says, so a test can also sign with a key that is not the issuer's.
/// </summary>
public static class TestCrl
{
    /// <summary>A DER CRL naming <paramref name="issuer"/>, signed with <paramref name="signingKey"/>, revoking <paramref name="serials"/>.</summary>
    public static byte[] Build(X509Certificate2 issuer, AsymmetricAlgorithm signingKey, BigInteger number, IEnumerable<byte[]> serials,
        DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(signingKey);
        ArgumentNullException.ThrowIfNull(serials);
        var builder = new CertificateRevocationListBuilder();
        foreach (byte[] serial in serials)
        {
            builder.AddEntry(serial, thisUpdate.AddMinutes(-1), X509RevocationReason.KeyCompromise);
        }

        var generator = signingKey switch
        {
            RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
            ECDsa ecdsa => X509SignatureGenerator.CreateForECDsa(ecdsa),
            _ => throw new ArgumentException("RSA or ECDSA", nameof(signingKey)),
        };
        return builder.Build(issuer.SubjectName, generator, number, nextUpdate, HashAlgorithmName.SHA256,
            X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: issuer.Extensions["2.5.29.14"] is not null, includeIssuerAndSerial: false),
            thisUpdate);
    }

    /// <summary>The CRL as PEM (what <c>hgs tpm-roots add-crl</c> reads, besides DER).</summary>
    public static string Pem(byte[] der) => PemEncoding.WriteString("X509 CRL", der) + "\n";

    /// <summary>The private key of a PEM key file (PKCS#1, SEC1 or PKCS#8; RSA or EC).</summary>
    public static AsymmetricAlgorithm LoadKey(string pemPath)
    {
        string pem = File.ReadAllText(pemPath);
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return rsa;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            rsa.Dispose();
        }

        var ec = ECDsa.Create();
        ec.ImportFromPem(pem);
        return ec;
    }
}
