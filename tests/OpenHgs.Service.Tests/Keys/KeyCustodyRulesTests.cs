using OpenHgs.Crypto;
using OpenHgs.Service.Keys;

namespace OpenHgs.Service.Tests.Keys;

/// <summary>The rules <c>hgs keys custody</c> judges a key's copies by: each finding named, with its severity.</summary>
public sealed class KeyCustodyRulesTests
{
    private static readonly TokenKeyAttributes Generated = new(Token: true, Private: true, Sensitive: true, AlwaysSensitive: true, Extractable: false,
        NeverExtractable: true, Local: true, Modifiable: false, KeyOperations.Sign);

    [Theory]
    [InlineData(KeyPurpose.Signing, KeyOperations.Sign)]
    [InlineData(KeyPurpose.Decryption, KeyOperations.Decrypt | KeyOperations.Unwrap)]
    [InlineData(KeyPurpose.Decryption, KeyOperations.Decrypt)]
    [InlineData(KeyPurpose.Mac, KeyOperations.Sign | KeyOperations.Verify)]
    public void A_key_generated_on_the_token_as_openhgs_generates_it_has_no_finding(KeyPurpose purpose, KeyOperations operations) =>
        Assert.Empty(KeyCustodyRules.Judge([Copy(Generated with { Operations = operations })], purpose));

    public static TheoryData<TokenKeyAttributes, KeyCustodyFindingCode, KeyCustodySeverity> OneAttributeWrong => new()
    {
        { Generated with { Extractable = true }, KeyCustodyFindingCode.Extractable, KeyCustodySeverity.Failure },
        { Generated with { Sensitive = false }, KeyCustodyFindingCode.NotSensitive, KeyCustodySeverity.Failure },
        { Generated with { NeverExtractable = false }, KeyCustodyFindingCode.ExtractableBefore, KeyCustodySeverity.Failure },
        { Generated with { AlwaysSensitive = false }, KeyCustodyFindingCode.ReadableBefore, KeyCustodySeverity.Failure },
        { Generated with { Token = false }, KeyCustodyFindingCode.SessionObject, KeyCustodySeverity.Failure },
        { Generated with { Private = false }, KeyCustodyFindingCode.VisibleWithoutLogin, KeyCustodySeverity.Failure },
        { Generated with { Local = false }, KeyCustodyFindingCode.NotGeneratedOnToken, KeyCustodySeverity.Warning },
        { Generated with { Modifiable = true }, KeyCustodyFindingCode.Modifiable, KeyCustodySeverity.Warning },
        { Generated with { Operations = KeyOperations.Sign | KeyOperations.SignRecover }, KeyCustodyFindingCode.ExcessOperations, KeyCustodySeverity.Warning },
        { Generated with { Operations = KeyOperations.Sign | KeyOperations.Decrypt }, KeyCustodyFindingCode.ExcessOperations, KeyCustodySeverity.Warning },
        { Generated with { NeverExtractable = null }, KeyCustodyFindingCode.AttributeNotReported, KeyCustodySeverity.Failure },
        { Generated with { Extractable = null }, KeyCustodyFindingCode.AttributeNotReported, KeyCustodySeverity.Failure },
    };

    [Theory]
    [Trait("Attack", "A110")]
    [MemberData(nameof(OneAttributeWrong))]
    public void Each_attribute_that_lets_a_key_leave_its_token_is_a_finding_of_its_own(TokenKeyAttributes attributes, KeyCustodyFindingCode code, KeyCustodySeverity severity)
    {
        var finding = Assert.Single(KeyCustodyRules.Judge([Copy(attributes)], KeyPurpose.Signing));
        Assert.Equal((code, severity, "m1: token"), (finding.Code, finding.Severity, finding.Holder));
    }

    [Fact]
    public void A_token_that_withholds_every_attribute_shows_nothing_and_fails()
    {
        var silent = new TokenKeyAttributes(null, null, null, null, null, null, null, null, KeyOperations.Sign);
        var findings = KeyCustodyRules.Judge([Copy(silent)], KeyPurpose.Signing);
        Assert.Equal(6, findings.Count(f => (f.Code, f.Severity) == (KeyCustodyFindingCode.AttributeNotReported, KeyCustodySeverity.Failure)));
        Assert.All(findings, f => Assert.Equal(KeyCustodyFindingCode.AttributeNotReported, f.Code));

        // The warning rules' attributes unreported: nothing to warn about, and nothing failed.
        Assert.Empty(KeyCustodyRules.Judge([Copy(Generated with { Local = null, Modifiable = null })], KeyPurpose.Signing));
    }

    [Fact]
    public void An_excess_operation_is_named_in_the_finding()
    {
        var finding = Assert.Single(KeyCustodyRules.Judge([Copy(Generated with { Operations = KeyOperations.Decrypt | KeyOperations.Unwrap | KeyOperations.SignRecover })], KeyPurpose.Decryption));
        Assert.Contains("SignRecover", finding.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Unwrap", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_copy_is_judged_and_failures_come_first()
    {
        var findings = KeyCustodyRules.Judge(
        [
            Copy(Generated with { Local = false }, "m1: token"),
            Copy(Generated with { Extractable = true, NeverExtractable = false }, "m2: token"),
            new KeyCustody("k", "m3", KeyCustodyKind.Unavailable, Problem: "member down: timeout"),
            new KeyCustody("k", "m4: token", KeyCustodyKind.Missing),
        ], KeyPurpose.Signing);
        Assert.Equal(
            [
                (KeyCustodyFindingCode.Extractable, "m2: token"), (KeyCustodyFindingCode.ExtractableBefore, "m2: token"),
                (KeyCustodyFindingCode.HolderUnavailable, "m3"), (KeyCustodyFindingCode.KeyMissing, "m4: token"),
                (KeyCustodyFindingCode.NotGeneratedOnToken, "m1: token"),
            ],
            findings.Select(f => (f.Code, f.Holder)));
        Assert.Contains("member down: timeout", findings[2].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_objects_under_one_label_in_one_token_fail_as_duplicates_and_each_is_judged()
    {
        var findings = KeyCustodyRules.Judge([Copy(Generated), Copy(Generated with { Extractable = true })], KeyPurpose.Signing);
        Assert.Equal([KeyCustodyFindingCode.DuplicateObjects, KeyCustodyFindingCode.Extractable], findings.Select(f => f.Code));
        Assert.All(findings, f => Assert.Equal(KeyCustodySeverity.Failure, f.Severity));
    }

    [Fact]
    public void The_software_store_is_a_warning_and_no_answer_at_all_a_failure()
    {
        var software = Assert.Single(KeyCustodyRules.Judge([new KeyCustody("k", "software key store in /d", KeyCustodyKind.Software)], KeyPurpose.Mac));
        Assert.Equal((KeyCustodyFindingCode.SoftwareKeyStore, KeyCustodySeverity.Warning), (software.Code, software.Severity));
        var none = Assert.Single(KeyCustodyRules.Judge([], KeyPurpose.Mac));
        Assert.Equal((KeyCustodyFindingCode.KeyMissing, KeyCustodySeverity.Failure), (none.Code, none.Severity));
    }

    private static KeyCustody Copy(TokenKeyAttributes attributes, string holder = "m1: token") => new("k", holder, KeyCustodyKind.Token, attributes);
}
