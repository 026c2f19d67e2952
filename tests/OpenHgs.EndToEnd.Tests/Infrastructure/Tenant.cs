using System.Security.Cryptography;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>A VM owner: a local guardian, and key protectors made with a known transport key.</summary>
public sealed class Tenant : IDisposable
{
    public Tenant(string name = "tenant-owner") => Owner = LocalGuardian.Create(name, TimeProvider.System);

    public LocalGuardian Owner { get; }

    public (KeyProtector Protector, byte[] TransportKey) CreateProtector(params GuardianMetadata[] guardians)
    {
        byte[] transportKey = RandomNumberGenerator.GetBytes(32);
        return (KeyProtectorBuilder.Create(Owner, guardians, transportKey), transportKey);
    }

    public void Dispose() => Owner.Dispose();
}
