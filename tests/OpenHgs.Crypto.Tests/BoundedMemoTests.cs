namespace OpenHgs.Crypto.Tests;

/// <summary><see cref="BoundedMemo{TValue}.Clear"/>: the fuzz harness relies on it to start each input from an empty memo.</summary>
public sealed class BoundedMemoTests
{
    [Fact]
    public void Clear_drops_every_entry_and_hands_each_value_to_the_eviction_callback_once()
    {
        var evicted = new List<int>();
        var memo = new BoundedMemo<int>(16, evicted.Add);
        for (int i = 0; i < 5; i++)
        {
            memo.Add(ContentHash.Of([(byte)i]), i);
        }

        memo.Clear();

        Assert.Equal(0, memo.Count);
        Assert.False(memo.TryGet(ContentHash.Of([0]), out _));
        Assert.Equal([0, 1, 2, 3, 4], evicted.Order());

        memo.Clear();
        Assert.Equal(5, evicted.Count);
    }

    [Fact]
    public void A_cleared_memo_computes_afresh()
    {
        var memo = new BoundedMemo<string>(16);
        var key = ContentHash.Of("input"u8);
        Assert.Equal("first", memo.GetOrAdd(key, "first"));
        Assert.Equal("first", memo.GetOrAdd(key, "second"));

        memo.Clear();

        Assert.Equal("second", memo.GetOrAdd(key, "second"));
    }
}
