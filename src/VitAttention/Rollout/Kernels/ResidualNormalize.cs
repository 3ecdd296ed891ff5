namespace VitAttention.Rollout.Kernels;

/// <summary>
/// The residual mix and row normalisation of one fused row, in place and in one pass:
/// scalar equivalent <c>d = α·scale·Σx + (1 − α); x[j] = α·scale·x[j]/d; x[diagonal] += (1 − α)/d</c>,
/// i.e. <c>rownorm(α·scale·x + (1 − α)·e_diagonal)</c>. <c>scale</c> is 1/heads for mean fusion (the row holds the
/// heads' sum), 1 otherwise. A row whose total is 0 (possible only with α = 1 after min fusion or discarding)
/// becomes the identity row <c>e_diagonal</c>: the token keeps its own value instead of producing NaN.
/// </summary>
internal static unsafe class ResidualNormalize
{
    /// <summary>Mixes and normalises <paramref name="n"/> floats of <paramref name="row"/> in place.</summary>
    /// <param name="width">The vector width to run at.</param>
    /// <param name="row">The fused row.</param>
    /// <param name="n">Floats in the row.</param>
    /// <param name="diagonal">The row's own token (where the identity adds 1 − α).</param>
    /// <param name="rowSum">Σ row[j], known from the fusion pass.</param>
    /// <param name="alpha">Weight of the attention; the identity gets 1 − α.</param>
    /// <param name="scale">1/heads for mean fusion, else 1.</param>
    public static void Invoke(SimdWidth width, float* row, int n, int diagonal, float rowSum, float alpha, float scale)
    {
        float total = (alpha * scale * rowSum) + (1f - alpha);
        if (!(total > 0f))
        {
            new Span<float>(row, n).Clear();
            row[diagonal] = 1f;
            return;
        }

        float factor = alpha * scale / total;
        Scale.Invoke(width, row, n, factor);
        row[diagonal] += (1f - alpha) / total;
    }
}
