namespace VitAttention.Evaluation;

/// <summary>
/// The random-map baseline reported beside every method: each patch gets an independent value uniform in [0, 1).
/// The values depend only on the seed and the image's key, so a run, a resumed run and any shard of a run give every
/// image the same random map. The generator is SplitMix64 (Steele, Lea and Flood 2014), seeded with
/// <c>seed ⊕ StableHash(key)</c>; value i is the top 24 bits of the i-th output times 2⁻²⁴.
/// </summary>
internal static class RandomMap
{
    /// <summary>The method name the baseline has in tables, JSON and figures.</summary>
    public const string MethodName = "random";

    /// <summary>The random map of one image.</summary>
    /// <param name="seed">The run's seed.</param>
    /// <param name="key">The image's key (its relative path).</param>
    /// <param name="patches">Values to draw.</param>
    public static float[] For(ulong seed, string key, int patches)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(patches, 1);
        ulong state = seed ^ StableHash.Of(key);
        var map = new float[patches];
        for (int i = 0; i < map.Length; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            map[i] = (StableHash.Mix(state) >> 40) * (1f / (1 << 24));
        }

        return map;
    }
}
