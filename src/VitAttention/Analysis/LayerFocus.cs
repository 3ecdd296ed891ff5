using System.Globalization;
using SkiaSharp;

namespace VitAttention.Analysis;

/// <summary>
/// Ranks layers by how focused their CLS attention is: the share of attention inside a region of interest,
/// or, without one, a concentration score (1 − normalised entropy).
/// </summary>
internal static class LayerFocus
{
    /// <summary>Default number of top layers.</summary>
    public const int DefaultTopK = 3;

    /// <summary>
    /// The share of the map's attention mass inside the region: Σ coverage(cell) · a(cell) / Σ a(cell), with
    /// the coverage of <see cref="RegionOfInterest.CoverageOnGrid"/>. Computed in float64.
    /// </summary>
    /// <exception cref="ArgumentException">The map has a negative or non-finite value or sums to zero, or the region does not fit the photo.</exception>
    public static double RegionMass(AttentionMap map, RegionOfInterest region, SKSizeI photoSize, SKRectI seenRegion)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(region);
        var coverage = region.CoverageOnGrid(photoSize, seenRegion, map.Height, map.Width);
        return RegionMass(map, coverage, "map");
    }

    /// <summary>
    /// Concentration of a map as a distribution over its N cells: p = a / Σa, 1 − (−Σ p ln p) / ln N (0 ln 0 = 0).
    /// 0 for a uniform map, 1 for a one-hot map; a single-cell map scores 1. Computed in float64.
    /// </summary>
    /// <exception cref="ArgumentException">The map has a negative or non-finite value or sums to zero.</exception>
    public static double Concentration(AttentionMap map) => Concentration(map, "map");

    /// <summary>Scores every layer by concentration and picks the top <paramref name="topK"/>.</summary>
    /// <param name="layers">Each layer's CLS attention map, in model order (index 0 = layer 1).</param>
    /// <param name="topK">How many top layers to return; at most the layer count.</param>
    /// <exception cref="ArgumentException">No layers, topK &lt; 1, or a map is invalid (the message names the layer).</exception>
    public static LayerFocusResult Rank(IReadOnlyList<AttentionMap> layers, int topK = DefaultTopK)
    {
        ValidateLayers(layers, topK);
        var scores = new double[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            scores[i] = Concentration(layers[i], $"layer {i + 1}");
        }

        return new LayerFocusResult(FocusMeasure.Concentration, scores, Top(scores, topK), null);
    }

    /// <summary>Scores every layer by its attention mass inside <paramref name="region"/> and picks the top <paramref name="topK"/>.</summary>
    /// <param name="layers">Each layer's CLS attention map, in model order (index 0 = layer 1).</param>
    /// <param name="region">The region of interest in photo pixels.</param>
    /// <param name="photoSize">The photo's size.</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="topK">How many top layers to return; at most the layer count.</param>
    /// <exception cref="ArgumentException">
    /// No layers, topK &lt; 1, a map is invalid (the message names the layer), or the region is empty, outside
    /// the photo or outside the seen region (the message gives the region and photo size).
    /// </exception>
    public static LayerFocusResult Rank(
        IReadOnlyList<AttentionMap> layers, RegionOfInterest region, SKSizeI photoSize, SKRectI seenRegion, int topK = DefaultTopK)
    {
        ArgumentNullException.ThrowIfNull(region);
        ValidateLayers(layers, topK);
        var scores = new double[layers.Count];
        double[]? coverage = null;
        for (int i = 0; i < layers.Count; i++)
        {
            var map = layers[i];
            if (coverage is null || coverage.Length != map.Values.Length)
            {
                coverage = region.CoverageOnGrid(photoSize, seenRegion, map.Height, map.Width);
            }

            scores[i] = RegionMass(map, coverage, $"layer {i + 1}");
        }

        return new LayerFocusResult(FocusMeasure.RegionMass, scores, Top(scores, topK), region);
    }

    /// <summary>The one-based numbers of the <paramref name="k"/> highest scores, highest first, ties to the earlier layer.</summary>
    internal static int[] Top(double[] scores, int k)
    {
        var order = Enumerable.Range(0, scores.Length).ToArray();
        // Stable sort by descending score keeps layer order among ties.
        var sorted = order.OrderByDescending(i => scores[i]).ThenBy(i => i).Take(Math.Min(k, scores.Length));
        return sorted.Select(i => i + 1).ToArray();
    }

    private static void ValidateLayers(IReadOnlyList<AttentionMap> layers, int topK)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0)
        {
            throw new ArgumentException("Layer focus needs at least one layer's map.", nameof(layers));
        }

        if (topK < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(topK), topK, "topK must be at least 1.");
        }

        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] is null)
            {
                throw new ArgumentException($"The map of layer {i + 1} is null.", nameof(layers));
            }
        }
    }

    private static double RegionMass(AttentionMap map, double[] coverage, string name)
    {
        double total = Total(map, name);
        var values = map.Values;
        double inside = 0;
        for (int i = 0; i < values.Length; i++)
        {
            inside += coverage[i] * values[i];
        }

        return inside / total;
    }

    private static double Concentration(AttentionMap map, string name)
    {
        ArgumentNullException.ThrowIfNull(map);
        double total = Total(map, name);
        var values = map.Values;
        if (values.Length == 1)
        {
            return 1;
        }

        double entropy = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double p = values[i] / total;
            if (p > 0)
            {
                entropy -= p * Math.Log(p);
            }
        }

        return Math.Clamp(1 - (entropy / Math.Log(values.Length)), 0, 1);
    }

    private static double Total(AttentionMap map, string name)
    {
        var values = map.Values;
        double total = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v) || v < 0)
            {
                throw new ArgumentException(
                    $"The attention map of {name} holds {v} at row {i / map.Width}, column {i % map.Width}; focus scores need " +
                    "non-negative finite attention values (CLS attention or rollout rows).");
            }

            total += v;
        }

        if (total <= 0)
        {
            throw new ArgumentException($"The attention map of {name} sums to zero; focus scores need some attention mass.");
        }

        return total;
    }
}
