namespace VitAttention.Tests.Rendering;

/// <summary>
/// Seeded, attention-like maps for figure tests: each layer mixes noise with a Gaussian blob around a
/// subject, sharper in later layers (as CLS attention tends to be), normalised to sum 1.
/// </summary>
internal static class SyntheticAttention
{
    public static List<AttentionMap> Layers(int seed, int layers, int gridHeight, int gridWidth, double centreRow, double centreColumn)
    {
        var rng = new Random(seed);
        var result = new List<AttentionMap>();
        for (int l = 0; l < layers; l++)
        {
            double sharpness = 0.15 + (0.85 * l / Math.Max(1, layers - 1));
            double sigma = 5.0 - (3.0 * sharpness);
            var values = new double[gridHeight * gridWidth];
            for (int r = 0; r < gridHeight; r++)
            {
                for (int c = 0; c < gridWidth; c++)
                {
                    double d2 = ((r - centreRow) * (r - centreRow)) + ((c - centreColumn) * (c - centreColumn));
                    values[(r * gridWidth) + c] = ((1 - sharpness) * rng.NextDouble()) + (3 * sharpness * Math.Exp(-d2 / (2 * sigma * sigma))) + 0.05;
                }
            }

            double sum = values.Sum();
            result.Add(new AttentionMap(gridHeight, gridWidth, values.Select(v => (float)(v / sum)).ToArray()));
        }

        return result;
    }
}
