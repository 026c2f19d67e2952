using System.Collections.Concurrent;
using System.Security.Cryptography;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Crypto.Tests;

/// <summary>Many threads on one store: every result must verify (a shared session would corrupt or crash).</summary>
public sealed class Pkcs11ConcurrencyTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private const int Threads = 8;
    private const int OperationsPerThread = 200;

    [Fact]
    public void Eight_threads_of_mixed_signing_and_decryption_all_verify()
    {
        Pkcs11KeyStore store = fixture.Store;
        using ECDsa ecPublic = ECDsa.Create();
        ecPublic.ImportSubjectPublicKeyInfo(fixture.EcSign.SubjectPublicKeyInfo, out _);
        using RSA rsaSignPublic = RSA.Create();
        rsaSignPublic.ImportSubjectPublicKeyInfo(fixture.RsaSign.SubjectPublicKeyInfo, out _);
        using RSA rsaDecryptPublic = RSA.Create();
        rsaDecryptPublic.ImportSubjectPublicKeyInfo(fixture.RsaDecrypt.SubjectPublicKeyInfo, out _);

        // Prepare inputs up front; .NET public-key objects are not used from several threads.
        var work = Enumerable.Range(0, Threads * OperationsPerThread).Select(i =>
        {
            byte[] data = RandomNumberGenerator.GetBytes(32);
            byte[]? ciphertext = i % 3 == 2 ? rsaDecryptPublic.Encrypt(data, RSAEncryptionPadding.OaepSHA1) : null;
            return (Index: i, Data: data, Ciphertext: ciphertext);
        }).ToArray();

        var results = new byte[work.Length][];
        var failures = new ConcurrentQueue<Exception>();
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                for (int i = t; i < work.Length; i += Threads)
                {
                    (int index, byte[] data, byte[]? ciphertext) = work[i];
                    results[index] = (index % 3) switch
                    {
                        0 => store.SignHash(new SignHashRequest(Pkcs11StoreFixture.EcSignLabel, data, SignatureScheme.EcdsaSha256)),
                        1 => store.SignHash(new SignHashRequest(Pkcs11StoreFixture.RsaSignLabel, data, SignatureScheme.RsaPkcs1Sha256)),
                        _ => store.Decrypt(new DecryptRequest(Pkcs11StoreFixture.RsaDecryptLabel, ciphertext!, OaepHash.Sha1)),
                    };
                }
            }
            catch (Exception ex)
            {
                failures.Enqueue(ex);
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(failures);

        int verified = 0;
        foreach ((int index, byte[] data, _) in work)
        {
            bool ok = (index % 3) switch
            {
                0 => ecPublic.VerifyHash(data, results[index]),
                1 => rsaSignPublic.VerifyHash(data, results[index], HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                _ => results[index].AsSpan().SequenceEqual(data),
            };
            Assert.True(ok, $"operation {index} ({index % 3}) did not verify");
            verified++;
        }

        Assert.Equal(Threads * OperationsPerThread, verified);
    }
}
