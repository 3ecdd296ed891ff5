namespace VitAttention.Tests;

/// <summary>Element-wise comparison of a float32 result with a float64 oracle, reporting the worst element.</summary>
internal static class NumericAssert
{
    /// <summary>Asserts equal lengths and every |actual − expected| ≤ <paramref name="tolerance"/> (NaN fails).</summary>
    public static void Close(float[] actual, double[] expected, double tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (!(d <= worst))
            {
                worst = d;
                at = i;
            }
        }

        Assert.That(worst, Is.LessThanOrEqualTo(tolerance), $"{what}: worst |difference| {worst:E3} at index {at}");
    }
}
