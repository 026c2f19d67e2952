using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace OpenHgs.Crypto.Tests;

/// <summary>
/// HSM-native re-wraps from many threads on real SoftHSM2: every one must succeed and open with the target key.
/// A release must not depend on luck (docs/hsm-cluster.md, "Concurrent re-wraps").
/// </summary>
public sealed class Pkcs11RewrapConcurrencyTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private const int Threads = 8;
    private const int RewrapsPerThread = 200;
    private static readonly byte[] Payload = "key protector payload bytes"u8.ToArray();

    [Fact]
    public void Eight_threads_of_rewraps_all_succeed_and_open_with_the_target_key()
    {
        using var kps = RSA.Create();
        kps.ImportSubjectPublicKeyInfo(fixture.RsaDecrypt.SubjectPublicKeyInfo, out _);

        // A few host keys (a fabric has many hosts), so the imported public key varies between re-wraps.
        RSA[] hosts = [.. Enumerable.Range(0, 4).Select(_ => RSA.Create(2048))];
        try
        {
            byte[][] hostKeys = [.. hosts.Select(h => h.ExportSubjectPublicKeyInfo())];
            var work = Enumerable.Range(0, Threads * RewrapsPerThread).Select(i =>
            {
                byte[] secret = RandomNumberGenerator.GetBytes(32);
                return (Secret: secret, Wrapped: kps.Encrypt(secret, RSAEncryptionPadding.OaepSHA1), Host: i % hosts.Length);
            }).ToArray();

            var results = new RewrapResult[work.Length];
            var failures = new ConcurrentQueue<string>();
            using var start = new Barrier(Threads);
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                for (int i = t; i < work.Length; i += Threads)
                {
                    try
                    {
                        results[i] = fixture.Store.Rewrap(new RewrapRequest(
                            Pkcs11StoreFixture.RsaDecryptLabel, work[i].Wrapped, OaepHash.Sha1, Payload, hostKeys[work[i].Host], OaepHash.Sha1));
                    }
                    catch (Exception ex) when (ex is KeyStoreOperationException or KeyStoreUnavailableException)
                    {
                        failures.Enqueue($"{i}: {ex.Message}");
                    }
                }
            })).ToList();
            // A service under load collects garbage (and runs finalizers) all the time; so does this test, so that
            // native templates freed while a PKCS#11 call still reads them would show (see docs/hsm-cluster.md).
            using var done = new CancellationTokenSource();
            var collector = new Thread(() =>
            {
                while (!done.IsCancellationRequested)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
            });
            collector.Start();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            done.Cancel();
            collector.Join();

            Assert.True(failures.IsEmpty, $"{failures.Count} of {work.Length} re-wraps failed, e.g. {string.Join(" | ", failures.Take(3))}");
            for (int i = 0; i < work.Length; i++)
            {
                Assert.Equal(HMACSHA256.HashData(work[i].Secret, Payload), results[i].Mac);
                Assert.Equal(work[i].Secret, hosts[work[i].Host].Decrypt(results[i].Rewrapped, RSAEncryptionPadding.OaepSHA1));
            }
        }
        finally
        {
            foreach (RSA host in hosts)
            {
                host.Dispose();
            }
        }
    }
}
