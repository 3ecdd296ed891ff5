namespace VitAttention.Tests;

public class AttentionMapTests
{
    [Test]
    public void Constructor_WrongValueCount_ThrowsNamingGrid()
    {
        var ex = Assert.Throws<ArgumentException>(() => _ = new AttentionMap(2, 3, new float[5]));
        Assert.That(ex!.Message, Does.Contain("2×3").And.Contain("6 values"));
    }

    [Test]
    public void Indexer_RowMajor_ReturnsCell()
    {
        var map = new AttentionMap(2, 3, [0f, 1f, 2f, 3f, 4f, 5f]);
        Assert.That(map[1, 2], Is.EqualTo(5f));
        Assert.That(map[0, 1], Is.EqualTo(1f));
    }
}
