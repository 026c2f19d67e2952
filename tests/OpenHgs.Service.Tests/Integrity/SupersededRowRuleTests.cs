using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Integrity;

/// <summary>
/// Design change 64's rule per table, on audit records as releases before and after it wrote them: the newest record
/// that bears on a row decides; a record an older release wrote names less, and is read as this row rather than refusing it.
/// </summary>
public sealed class SupersededRowRuleTests
{
    private static readonly byte[] Ak = [1, 2, 3];
    private static readonly AttestationKeyRecord Key = new("host", Ak, DateTimeOffset.UnixEpoch);

    private static AdminRecord Record(long seq, string @event, params (string Name, string Value)[] details) =>
        new(seq, @event, "subject", "{" + string.Join(",", details.Select(d => $"\"{d.Name}\":\"{d.Value}\"")) + "}");

    [Fact]
    public void An_attestation_key_is_current_after_its_own_activation_and_superseded_by_another_or_a_removal()
    {
        var own = Record(3, AdminRecordEvents.HostAdded, ("akName", "000b01"), ("akPublicSha256", TpmTable.AkPublicDigest(Ak)));
        var other = Record(5, AdminRecordEvents.HostAdded, ("akName", "000b02"), ("akPublicSha256", TpmTable.AkPublicDigest([9])));
        var registration = Record(4, AdminRecordEvents.HostAdded, ("keyThumbprint", "ek"));
        var removal = Record(2, AdminRecordEvents.HostRemoved, ("keyThumbprint", "ek"));

        Assert.Null(TpmTable.KeySupersededBy(Key, [own, removal]));
        Assert.Equal(5, TpmTable.KeySupersededBy(Key, [other, own]));
        Assert.Equal(4, TpmTable.KeySupersededBy(Key, [registration, removal, own]));   // a registration after the activation
        Assert.Null(TpmTable.KeySupersededBy(Key, []));
    }

    [Fact]
    public void An_activation_that_committed_after_its_hosts_removal_is_superseded_by_the_next_registration()
    {
        // A completion racing 'hgs hosts remove' (one that read the host before the removal committed) once left an AK
        // row and its activation record after the removal; the host registered again, with another EK, must not
        // inherit it. Newest first: the new registration, the late activation, the removal, the first registration.
        var reregistration = Record(9, AdminRecordEvents.HostAdded, ("keyThumbprint", "other-ek"), ("mode", "tpm"));
        var late = Record(8, AdminRecordEvents.HostAdded, ("mode", "tpm"), ("akName", "000b01"), ("akPublicSha256", TpmTable.AkPublicDigest(Ak)));
        var removal = Record(7, AdminRecordEvents.HostRemoved, ("keyThumbprint", "ek"));
        var first = Record(6, AdminRecordEvents.HostAdded, ("keyThumbprint", "ek"), ("mode", "tpm"));

        Assert.Equal(9, TpmTable.KeySupersededBy(Key, [reregistration, late, removal, first]));
        Assert.Null(TpmTable.KeySupersededBy(Key, [late, removal, first]));   // before re-registration: the row is the trail's newest word
    }

    [Fact]
    public void An_activation_recorded_before_the_rule_names_no_digest_and_is_read_as_this_key()
    {
        var older = Record(7, AdminRecordEvents.HostAdded, ("akName", "000b02"));
        Assert.Null(TpmTable.KeySupersededBy(Key, [older]));
    }

    [Fact]
    public void A_baseline_is_superseded_by_its_removal_or_another_document_and_an_older_add_is_read_as_this_one()
    {
        byte[] document = [4, 5, 6];
        var baseline = new BaselineRecord("b", document, DateTimeOffset.UnixEpoch);
        var own = Record(1, AdminRecordEvents.SettingChanged, ("documentSha256", PolicyTable.DocumentDigest(document)));
        var other = Record(3, AdminRecordEvents.SettingChanged, ("documentSha256", PolicyTable.DocumentDigest([7])));
        var removal = Record(2, AdminRecordEvents.SettingChanged, ("removed", "true"));

        Assert.Null(PolicyTable.BaselineSupersededBy(baseline, [own]));
        Assert.Equal(2, PolicyTable.BaselineSupersededBy(baseline, [removal, own]));
        Assert.Equal(3, PolicyTable.BaselineSupersededBy(baseline, [other, removal, own]));
        Assert.Null(PolicyTable.BaselineSupersededBy(baseline, [Record(9, AdminRecordEvents.SettingChanged, ("hardwareClass", "c"))]));
    }

    [Fact]
    public void A_policy_state_must_be_the_newest_recorded_one_and_a_root_must_not_be_removed_since()
    {
        var enabled = Record(4, AdminRecordEvents.SettingChanged, ("state", "enabled"));
        var staged = Record(2, AdminRecordEvents.SettingChanged, ("state", "staged"));
        Assert.Null(PolicyTable.StateSupersededBy("enabled", [enabled, staged]));
        Assert.Equal(4, PolicyTable.StateSupersededBy("staged", [enabled, staged]));
        Assert.Null(PolicyTable.StateSupersededBy("disabled", []));   // a default row, never changed

        var added = Record(1, AdminRecordEvents.SettingChanged, ("subject", "CN=root"));
        var removed = Record(6, AdminRecordEvents.SettingChanged, ("subject", "CN=root"), ("removed", "true"));
        Assert.Null(TpmTable.RootSupersededBy([added]));
        Assert.Equal(6, TpmTable.RootSupersededBy([removed, added]));
    }
}
