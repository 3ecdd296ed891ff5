namespace VitAttention.Evaluation;

/// <summary>
/// Orders of pixels or patches by a map's values, with a documented tie rule so that every run, shard and machine
/// perturbs the same pixels: ties go to the lower row-major index first, whichever direction is sorted. (PyTorch's
/// <c>topk</c>, which the papers' code uses, leaves the order of ties unspecified; tied values occur at the borders
/// of an upsampled map and in constant maps.)
/// </summary>
internal static class Ranking
{
    /// <summary>Indices of <paramref name="values"/> by decreasing value; ties by increasing index.</summary>
    public static int[] Descending(ReadOnlySpan<double> values) => Order(values, descending: true);

    /// <summary>Indices of <paramref name="values"/> by increasing value; ties by increasing index.</summary>
    public static int[] Ascending(ReadOnlySpan<double> values) => Order(values, descending: false);

    /// <summary>Indices of a float map by decreasing value; ties by increasing index.</summary>
    public static int[] Descending(ReadOnlySpan<float> values)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < wide.Length; i++)
        {
            wide[i] = values[i];
        }

        return Order(wide, descending: true);
    }

    private static int[] Order(ReadOnlySpan<double> values, bool descending)
    {
        var keys = new (double Value, int Index)[values.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            if (double.IsNaN(values[i]))
            {
                throw new ArgumentException($"value {i} is NaN; a map must be finite everywhere.", nameof(values));
            }

            keys[i] = (descending ? -values[i] : values[i], i);
        }

        // (value, index) is a total order, so the unstable sort still gives one answer.
        Array.Sort(keys, static (a, b) => a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Index.CompareTo(b.Index));
        var order = new int[keys.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = keys[i].Index;
        }

        return order;
    }
}
