using System.Text;
using VitAttention.Evaluation;

namespace VitAttention.Tests.Evaluation;

public class ShardingAndRandomTests
{
    [Test]
    public void StableHash_KnownStrings_MatchFnv1aWithSplitMixFinaliser()
    {
        // Independent float-free reference: FNV-1a 64 written out here byte by byte, then SplitMix64's finaliser.
        static ulong Reference(string s)
        {
            ulong h = 0xcbf29ce484222325UL;
            foreach (byte b in Encoding.UTF8.GetBytes(s))
            {
                h ^= b;
                h = unchecked(h * 0x100000001b3UL);
            }

            h = unchecked((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9UL);
            h = unchecked((h ^ (h >> 27)) * 0x94d049bb133111ebUL);
            return h ^ (h >> 31);
        }

        // FNV-1a 64 of "" is its offset basis and of "a" is 0xaf63dc4c8601ec8c (the published test vectors).
        Assert.That(StableHash.Of(string.Empty), Is.EqualTo(StableHash.Mix(0xcbf29ce484222325UL)));
        Assert.That(StableHash.Of("a"), Is.EqualTo(StableHash.Mix(0xaf63dc4c8601ec8cUL)));
        foreach (string s in new[] { "test/00001.png", "ümlaut/ß.jpg", "x" })
        {
            Assert.That(StableHash.Of(s), Is.EqualTo(Reference(s)), s);
        }
    }

    [Test]
    public void Contains_EveryKey_InExactlyOneShard()
    {
        var keys = Enumerable.Range(0, 2000).Select(i => $"train/{i:D5}.png").ToList();
        const int n = 7;
        var shards = Enumerable.Range(0, n).Select(i => new ShardSpec(i, n)).ToList();
        foreach (string key in keys)
        {
            Assert.That(shards.Count(s => s.Contains(key)), Is.EqualTo(1), key);
        }

        // Balanced within a binomial spread: 2000/7 ≈ 286 ± 16 (one σ); allow 5σ.
        var sizes = shards.Select(s => s.Select(keys, k => k).Count).ToList();
        Assert.That(sizes.Sum(), Is.EqualTo(2000));
        Assert.That(sizes, Is.All.InRange(286 - 80, 286 + 80));
    }

    [Test]
    public void Select_ReorderedOrGrownList_SameMembership()
    {
        var keys = Enumerable.Range(0, 300).Select(i => $"img{i}.jpg").ToList();
        var shard = ShardSpec.Parse("2/5");
        var before = shard.Select(keys, k => k).ToHashSet();
        var grown = keys.Concat(Enumerable.Range(300, 100).Select(i => $"img{i}.jpg")).Reverse().ToList();
        var after = shard.Select(grown, k => k).ToHashSet();
        Assert.That(before.IsSubsetOf(after), Is.True);
        Assert.That(after.Except(before).All(k => int.Parse(k[3..^4], System.Globalization.CultureInfo.InvariantCulture) >= 300), Is.True);
    }

    [TestCase("3/3")]
    [TestCase("-1/3")]
    [TestCase("1/0")]
    [TestCase("1")]
    [TestCase("a/b")]
    [TestCase("1/2/3")]
    public void Parse_Invalid_ThrowsShowingTheForm(string text)
    {
        var ex = Assert.Throws<FormatException>(() => ShardSpec.Parse(text));
        Assert.That(ex!.Message, Does.Contain("i/N").And.Contain(text));
    }

    [Test]
    public void Parse_Valid_RoundTrips()
    {
        Assert.That(ShardSpec.Parse("0/1"), Is.EqualTo(ShardSpec.All));
        Assert.That(ShardSpec.Parse("15/16").ToString(), Is.EqualTo("15/16"));
    }

    [Test]
    public void RandomMap_SameSeedAndKey_SameValuesAnywhere()
    {
        float[] a = RandomMap.For(42, "cat.png", 196);
        float[] b = RandomMap.For(42, "cat.png", 196);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(RandomMap.For(42, "dog.png", 196), Is.Not.EqualTo(a));
        Assert.That(RandomMap.For(43, "cat.png", 196), Is.Not.EqualTo(a));
        Assert.That(a, Is.All.InRange(0f, 0.99999995f));
    }

    [Test]
    public void RandomMap_FirstValue_MatchesSplitMix64Reference()
    {
        // SplitMix64 with state = seed ⊕ hash: first output = mix(state + golden gamma); value = top 24 bits · 2⁻²⁴.
        ulong state = 42UL ^ StableHash.Of("cat.png");
        ulong z = unchecked(state + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        Assert.That(RandomMap.For(42, "cat.png", 1)[0], Is.EqualTo((float)((z >> 40) / 16777216.0)));
    }

    [Test]
    public void RandomMap_ManyValues_UniformMoments()
    {
        float[] v = RandomMap.For(7, "moments", 100_000);
        double mean = v.Average(x => (double)x), variance = v.Average(x => Math.Pow(x - mean, 2));
        // Uniform [0, 1): mean 1/2, variance 1/12; standard errors 0.0009 and 0.0003.
        Assert.That(mean, Is.EqualTo(0.5).Within(0.005));
        Assert.That(variance, Is.EqualTo(1.0 / 12).Within(0.002));
    }
}
