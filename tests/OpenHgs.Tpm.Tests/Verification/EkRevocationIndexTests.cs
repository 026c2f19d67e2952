using System.Security.Cryptography.X509Certificates;
using OpenHgs.Testing;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Verification;

/// <summary>
/// Design change 75's pure part: the chain a registration validates, as stored (<see cref="EkRevocationPath"/>), looked up
/// later in the CRL index (<see cref="EkRevocationIndex"/>) gives what the validator gives for the same CRLs.
/// </summary>
public sealed class EkRevocationIndexTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly TestEkChain _chain = new();

    [Fact]
    public void The_stored_chain_names_each_certificate_but_the_root_by_serial_and_issuing_ca_and_reads_back()
    {
        var chain = Validate(EkRevocationData.None).Chain;
        Assert.Equal(
            [new EkRevocationLink("0123456789", EkRevocationData.IssuerIdentity(_chain.Intermediate)), new EkRevocationLink("4242", EkRevocationData.IssuerIdentity(_chain.Root))],
            chain);
        Assert.Equal(chain, EkRevocationPath.Parse(EkRevocationPath.Format(chain)));
        Assert.Empty(EkRevocationPath.Parse(string.Empty));
        Assert.Throws<FormatException>(() => EkRevocationPath.Parse("0123 ca:ab"));
    }

    [Fact]
    public void The_index_reaches_the_verdict_the_validator_reaches_also_through_a_renewed_certificate_of_the_ca()
    {
        var chain = Validate(EkRevocationData.None).Chain;
        using var renewed = _chain.RenewIntermediate();
        var revoking = new EkRevocationData([RevocationList.Parse(_chain.IntermediateCrl(7, [TestEkChain.EkSerial]))], new HashSet<string>());
        var atRegistration = Validate(revoking);

        // Only the renewed certificate of the CA (same name and key) registered: the CRL is still the CA's.
        var index = EkRevocationIndex.Build(revoking, [_chain.Root, renewed]);
        Assert.Equal((atRegistration.Failure, atRegistration.Detail), (index.Check(chain, Now)?.Failure, index.Check(chain, Now)?.Detail));

        var notListing = new EkRevocationData([RevocationList.Parse(_chain.IntermediateCrl(8, [[0x05]]))], new HashSet<string>());
        Assert.Null(EkRevocationIndex.Build(notListing, [_chain.Root, _chain.Intermediate]).Check(chain, Now));
        Assert.True(EkRevocationIndex.Empty.IsEmpty);
        Assert.Null(EkRevocationIndex.Empty.Check(chain, Now));

        // A CRL of another CA (another name and key) is filed under no registered certificate.
        using var stranger = new TestEkChain("Stranger TPM");
        var foreign = new EkRevocationData([RevocationList.Parse(stranger.IntermediateCrl(9, [TestEkChain.EkSerial]))], new HashSet<string>());
        Assert.True(EkRevocationIndex.Build(foreign, [_chain.Root, _chain.Intermediate]).IsEmpty);
    }

    private EkCertificateResult Validate(EkRevocationData revocation) =>
        EkCertificateValidator.Validate(_chain.EkCertificate, _chain.Ek, [_chain.Root], [_chain.Intermediate], Now, revocation);

    public void Dispose() => _chain.Dispose();
}
