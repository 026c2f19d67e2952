using System.Text;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Integrity;

/// <summary>
/// <see cref="KeyStoreRowAuthenticator.Verify"/> remembers successful verifications (design change 58): a repeat of the
/// same row and MAC costs no key store call, and anything else — another bit in the row or the MAC, another key — is
/// checked by the real key store (a software store here, behind a counting decorator).
/// </summary>
public sealed class RowVerificationMemoTests : IDisposable
{
    private readonly SoftwareRowKey _key = new();
    private readonly CountingKeyStore _store;

    public RowVerificationMemoTests() => _store = new CountingKeyStore(_key.Store, ownsInner: false);

    public void Dispose() => _key.Dispose();

    [Fact]
    public void A_repeat_verification_of_the_same_row_and_mac_makes_no_second_key_store_call()
    {
        var rows = new KeyStoreRowAuthenticator(_store);
        byte[] row = Row("host-a");
        byte[] mac = rows.Compute(row);

        int before = _store.Macs;
        Assert.True(rows.Verify(row, mac));
        int first = _store.Macs - before;
        Assert.InRange(first, 1, 2);   // the verification, and the key's check value the first time

        int afterFirst = _store.Macs;
        for (int i = 0; i < 5; i++)
        {
            // Equal content in new arrays: the memo is keyed by content, not by reference.
            Assert.True(rows.Verify([.. row], [.. mac]));
        }

        Assert.Equal(afterFirst, _store.Macs);
    }

    [Fact]
    public void A_tampered_mac_or_row_after_a_successful_verification_is_checked_by_the_key_store_and_refused()
    {
        var rows = new KeyStoreRowAuthenticator(_store);
        byte[] row = Row("host-a");
        byte[] mac = rows.Compute(row);
        Assert.True(rows.Verify(row, mac));

        byte[] otherMac = [.. mac];
        otherMac[^1] ^= 1;
        int before = _store.Macs;
        Assert.False(rows.Verify(row, otherMac));
        Assert.True(_store.Macs > before, "a MAC that differs must be checked by the key store");

        byte[] otherRow = [.. row];
        otherRow[^1] ^= 1;
        before = _store.Macs;
        Assert.False(rows.Verify(otherRow, mac));
        Assert.True(_store.Macs > before, "a row that differs must be checked by the key store");

        // Failures are never remembered as such, and the genuine row still verifies.
        Assert.False(rows.Verify(row, otherMac));
        Assert.False(rows.Verify(otherRow, mac));
        Assert.True(rows.Verify(row, mac));
        Assert.False(rows.Verify(row, mac[..31]));
        Assert.False(rows.Verify(row, []));
    }

    [Fact]
    public void Another_key_misses_and_refuses_what_the_first_key_verified()
    {
        using var otherKey = new SoftwareRowKey();
        var ours = new KeyStoreRowAuthenticator(_store);
        var theirs = new KeyStoreRowAuthenticator(new CountingKeyStore(otherKey.Store, ownsInner: false));
        byte[] row = Row("host-a");
        byte[] mac = ours.Compute(row);
        Assert.True(ours.Verify(row, mac));
        Assert.False(theirs.Verify(row, mac));
        Assert.True(theirs.Verify(row, theirs.Compute(row)));
        Assert.False(ours.Verify(row, theirs.Compute(row)));
    }

    [Fact]
    public void A_key_replaced_under_a_running_authenticator_drops_everything_remembered_at_the_first_row_that_fails()
    {
        var rows = new KeyStoreRowAuthenticator(_store);
        byte[] remembered = Row("host-a"), unread = Row("host-b");
        byte[] rememberedMac = rows.Compute(remembered), unreadMac = rows.Compute(unread);
        Assert.True(rows.Verify(remembered, rememberedMac));

        // The row-MAC key is destroyed and a new one made under the same label (no OpenHGS command does this).
        Assert.True(_store.DeleteMacKey(KeyStoreRowAuthenticator.MacKeyLabel));
        _store.CreateMacKey(KeyStoreRowAuthenticator.MacKeyLabel);

        // The first row checked for real fails under the new key; the key's check value changed, so the memo is dropped
        // and the row remembered under the old key is checked again — and refused.
        Assert.False(rows.Verify(unread, unreadMac));
        int before = _store.Macs;
        Assert.False(rows.Verify(remembered, rememberedMac));
        Assert.True(_store.Macs > before);
        Assert.True(rows.Verify(remembered, rows.Compute(remembered)));
    }

    [Fact]
    public void The_memo_is_bounded_and_starts_over_when_full()
    {
        var rows = new KeyStoreRowAuthenticator(_store, verificationMemoCapacity: 2);
        byte[][] row = [Row("host-1"), Row("host-2"), Row("host-3")];
        byte[][] mac = [.. row.Select(rows.Compute)];
        Assert.True(rows.Verify(row[0], mac[0]));
        Assert.True(rows.Verify(row[1], mac[1]));

        int before = _store.Macs;
        Assert.True(rows.Verify(row[0], mac[0]));
        Assert.True(rows.Verify(row[1], mac[1]));
        Assert.Equal(before, _store.Macs);

        // A third row fills it: it starts over, holding only the newest, so the first costs a key store call again.
        Assert.True(rows.Verify(row[2], mac[2]));
        before = _store.Macs;
        Assert.True(rows.Verify(row[0], mac[0]));
        Assert.Equal(before + 1, _store.Macs);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeyStoreRowAuthenticator(_store, verificationMemoCapacity: 0));
    }

    [Fact]
    public void A_bulk_read_larger_than_the_memo_keeps_the_rows_requests_read_and_still_refuses_a_tampered_row()
    {
        var rows = new KeyStoreRowAuthenticator(_store, verificationMemoCapacity: 4);
        byte[][] hot = [Row("settings-mode"), Row("host-hot")];
        byte[][] hotMac = [.. hot.Select(rows.Compute)];
        byte[][] fabric = [.. Enumerable.Range(0, 20).Select(i => Row($"host-{i}"))];
        byte[][] fabricMac = [.. fabric.Select(rows.Compute)];
        Assert.True(rows.Verify(hot[0], hotMac[0]));
        Assert.True(rows.Verify(hot[1], hotMac[1]));

        // The scan reads five times the memo's capacity: each row it has not seen costs a key store call, a remembered
        // one does not, and nothing it reads is added (a second pass costs the same again).
        for (int pass = 0; pass < 2; pass++)
        {
            int before = _store.Macs;
            using (BulkRowRead.Begin())
            {
                Assert.True(rows.Verify(hot[0], hotMac[0]));
                Assert.All(fabric.Zip(fabricMac), r => Assert.True(rows.Verify(r.First, r.Second)));
                Assert.Equal(before + fabric.Length, _store.Macs);

                // A row changed after the pass before verified it is checked by the key store and refused.
                byte[] tampered = [.. fabric[3]];
                tampered[^1] ^= 1;
                int beforeTampered = _store.Macs;
                Assert.False(rows.Verify(tampered, fabricMac[3]));
                Assert.True(_store.Macs > beforeTampered, "a changed row must be checked by the key store");
            }
        }

        // The requests' rows are still remembered; a row the scan verified is not.
        int after = _store.Macs;
        Assert.True(rows.Verify(hot[0], hotMac[0]));
        Assert.True(rows.Verify(hot[1], hotMac[1]));
        Assert.Equal(after, _store.Macs);
        Assert.True(rows.Verify(fabric[0], fabricMac[0]));
        Assert.Equal(after + 1, _store.Macs);
        Assert.False(BulkRowRead.Active);
    }

    [Fact]
    public void The_same_reads_outside_a_bulk_read_make_the_memo_start_over_and_forget_the_rows_requests_read()
    {
        // The control for the test above: without the scope, the scan evicts the hot rows.
        var rows = new KeyStoreRowAuthenticator(_store, verificationMemoCapacity: 4);
        byte[] hot = Row("host-hot");
        byte[] hotMac = rows.Compute(hot);
        Assert.True(rows.Verify(hot, hotMac));
        foreach (byte[] row in Enumerable.Range(0, 20).Select(i => Row($"host-{i}")))
        {
            Assert.True(rows.Verify(row, rows.Compute(row)));
        }

        int before = _store.Macs;
        Assert.True(rows.Verify(hot, hotMac));
        Assert.Equal(before + 1, _store.Macs);
    }

    [Fact]
    public void Each_authenticator_has_its_own_memo()
    {
        var first = new KeyStoreRowAuthenticator(_store);
        var second = new KeyStoreRowAuthenticator(_store);
        byte[] row = Row("host-a");
        byte[] mac = first.Compute(row);
        Assert.True(first.Verify(row, mac));

        int before = _store.Macs;
        Assert.True(second.Verify(row, mac));
        Assert.True(_store.Macs > before, "a second authenticator must not see the first one's memo");
    }

    [Fact]
    public void Computing_a_mac_always_asks_the_key_store()
    {
        var rows = new KeyStoreRowAuthenticator(_store);
        byte[] row = Row("host-a");
        Assert.True(rows.Verify(row, rows.Compute(row)));
        int before = _store.Macs;
        rows.Compute(row);
        rows.Compute(row);
        Assert.Equal(before + 2, _store.Macs);
    }

    // Any bytes stand for a canonical row here; the tables' encoding is tested with the database (RowIntegrityTests).
    private static byte[] Row(string name) => Encoding.UTF8.GetBytes($"OpenHGS-row-mac-v1|hosts|{name}|host-key|010203|thumb-{name}|1780000000000");
}
