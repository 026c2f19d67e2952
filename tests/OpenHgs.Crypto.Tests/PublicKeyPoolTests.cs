using System.Security.Cryptography;

namespace OpenHgs.Crypto.Tests;

/// <summary><see cref="PublicKeyPool"/>: reuse, exclusive leases, failures not remembered, and the bound.</summary>
public sealed class PublicKeyPoolTests
{
    private static readonly byte[] RsaKey = NewRsaKey();
    private static readonly byte[] EcKey = NewEcKey();

    [Fact]
    public void Sequential_leases_reuse_one_imported_instance()
    {
        var pool = new PublicKeyPool(16, 4);
        AsymmetricAlgorithm first;
        using (var lease = pool.Lease(RsaKey))
        {
            first = lease.Key;
            Assert.Equal(RsaKey, lease.Rsa.ExportSubjectPublicKeyInfo());
        }

        using (var again = pool.Lease(RsaKey))
        {
            Assert.Same(first, again.Key);
        }

        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void Ec_keys_lease_as_ecdsa_and_rsa_as_rsa()
    {
        var pool = new PublicKeyPool(16, 4);
        using var ec = pool.Lease(EcKey);
        using var rsa = pool.Lease(RsaKey);
        Assert.Equal(EcKey, ec.Ecdsa.ExportSubjectPublicKeyInfo());
        Assert.Throws<CryptographicException>(() => ec.Rsa);
        Assert.Throws<CryptographicException>(() => rsa.Ecdsa);
        Assert.Equal(2, pool.Count);
    }

    [Fact]
    public void Concurrent_leases_get_different_instances()
    {
        var pool = new PublicKeyPool(16, 4);
        using var first = pool.Lease(EcKey);
        using var second = pool.Lease(EcKey);
        Assert.NotSame(first.Key, second.Key);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void Threads_never_share_an_instance()
    {
        var pool = new PublicKeyPool(16, 2);
        var inUse = new HashSet<AsymmetricAlgorithm>(ReferenceEqualityComparer.Instance);
        int overlaps = 0;
        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            using var lease = pool.Lease(RsaKey);
            lock (inUse)
            {
                if (!inUse.Add(lease.Key))
                {
                    overlaps++;
                }
            }

            Thread.SpinWait(50);
            lock (inUse)
            {
                inUse.Remove(lease.Key);
            }
        });
        Assert.Equal(0, overlaps);
    }

    [Fact]
    public void Idle_instances_beyond_the_per_key_bound_are_disposed()
    {
        var pool = new PublicKeyPool(16, 1);
        var first = pool.Lease(RsaKey);
        var second = pool.Lease(RsaKey);
        var (a, b) = (first.Rsa, second.Rsa);
        first.Dispose();
        second.Dispose();
        Assert.Throws<ObjectDisposedException>(() => b.ExportSubjectPublicKeyInfo());
        using var again = pool.Lease(RsaKey);
        Assert.Same(a, again.Key);
    }

    [Fact]
    public void A_lease_gives_its_key_back_once()
    {
        var pool = new PublicKeyPool(16, 4);
        var lease = pool.Lease(RsaKey);
        lease.Dispose();
        lease.Dispose();
        Assert.Throws<ObjectDisposedException>(() => lease.Key);
        using var first = pool.Lease(RsaKey);
        using var second = pool.Lease(RsaKey);
        Assert.NotSame(first.Key, second.Key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3000")]
    [InlineData("30 05 06 03 2a 03 04")]
    public void Malformed_keys_throw_and_are_not_remembered(string hex)
    {
        var pool = new PublicKeyPool(16, 4);
        byte[] der = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
        Assert.ThrowsAny<CryptographicException>(() => pool.Lease(der));
        Assert.ThrowsAny<CryptographicException>(() => pool.Lease(der));
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void Keys_that_parse_but_do_not_import_throw_every_time_and_are_not_remembered()
    {
        var pool = new PublicKeyPool(16, 4);

        // Well-formed DER for a P-256 key whose point is not on the curve: the structure reads, the import refuses.
        byte[] offCurve = (byte[])EcKey.Clone();
        offCurve[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => pool.Lease(offCurve));

        // Trailing data after a valid key.
        Assert.ThrowsAny<CryptographicException>(() => pool.Lease([.. RsaKey, 0]));

        // An algorithm other than RSA and EC (Ed25519).
        Assert.ThrowsAny<CryptographicException>(() => pool.Lease(Convert.FromHexString("302a300506032b6570032100" + new string('1', 64))));

        Assert.Equal(0, pool.Count);
        Assert.ThrowsAny<CryptographicException>(() => pool.Lease(offCurve));
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void The_number_of_keys_stays_within_the_capacity_and_dropped_keys_are_disposed()
    {
        var pool = new PublicKeyPool(4, 4);
        AsymmetricAlgorithm first;
        using (var lease = pool.Lease(EcKey))
        {
            first = lease.Key;
        }

        for (int i = 0; i < 10; i++)
        {
            using var lease = pool.Lease(NewEcKey());
            Assert.InRange(pool.Count, 1, 4);
        }

        // The first key was dropped when the pool started over: its idle instance is disposed, and a new lease imports afresh.
        Assert.Throws<ObjectDisposedException>(() => ((ECDsa)first).ExportSubjectPublicKeyInfo());
        using var again = pool.Lease(EcKey);
        Assert.NotSame(first, again.Key);
        Assert.InRange(pool.Count, 1, 4);
    }

    [Fact]
    public void An_instance_leased_while_its_key_is_dropped_is_disposed_when_given_back()
    {
        var pool = new PublicKeyPool(2, 4);
        var lease = pool.Lease(RsaKey);
        var key = lease.Rsa;
        for (int i = 0; i < 3; i++)
        {
            using var other = pool.Lease(NewEcKey());
        }

        Assert.Equal(RsaKey, key.ExportSubjectPublicKeyInfo()); // still usable while leased
        lease.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.ExportSubjectPublicKeyInfo());
    }

    private static byte[] NewRsaKey()
    {
        using var rsa = RSA.Create(2048);
        return rsa.ExportSubjectPublicKeyInfo();
    }

    private static byte[] NewEcKey()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return ec.ExportSubjectPublicKeyInfo();
    }
}
