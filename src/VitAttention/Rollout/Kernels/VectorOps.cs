using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Sum of a row: scalar equivalent <c>Σ_j x[j]</c>. Used after max/min fusion and after discarding, where the
/// fused row's sum is not known from the heads' sums.
/// </summary>
internal static unsafe class RowSum
{
    /// <summary>Σ x[j] for j &lt; <paramref name="n"/>.</summary>
    public static float Invoke(SimdWidth width, float* x, int n) => width switch
    {
        SimdWidth.Vector512 => Vector<Simd512, Vector512<float>>(x, n),
        SimdWidth.Vector256 => Vector<Simd256, Vector256<float>>(x, n),
        SimdWidth.Vector128 => Vector<Simd128, Vector128<float>>(x, n),
        _ => Tail(x, 0, n, 0f),
    };

    private static float Tail(float* x, int j, int n, float sum)
    {
        for (; j < n; j++)
        {
            sum += x[j];
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Vector<TSimd, TVec>(float* x, int n)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count, j = 0;
        TVec sum = TSimd.Zero;
        for (; j <= n - count; j += count)
        {
            sum = TSimd.Add(sum, TSimd.Load(x + j));
        }

        return Tail(x, j, n, TSimd.Sum(sum));
    }
}

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

/// <summary>In-place scaling: scalar equivalent <c>x[j] *= factor</c>.</summary>
internal static unsafe class Scale
{
    /// <summary>x[j] *= factor for j &lt; <paramref name="n"/>.</summary>
    public static void Invoke(SimdWidth width, float* x, int n, float factor)
    {
        int j = width switch
        {
            SimdWidth.Vector512 => Vector<Simd512, Vector512<float>>(x, n, factor),
            SimdWidth.Vector256 => Vector<Simd256, Vector256<float>>(x, n, factor),
            SimdWidth.Vector128 => Vector<Simd128, Vector128<float>>(x, n, factor),
            _ => 0,
        };
        for (; j < n; j++)
        {
            x[j] *= factor;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Vector<TSimd, TVec>(float* x, int n, float factor)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count, j = 0;
        TVec f = TSimd.Broadcast(factor);
        for (; j <= n - count; j += count)
        {
            TSimd.Store(TSimd.Multiply(TSimd.Load(x + j), f), x + j);
        }

        return j;
    }
}

/// <summary>
/// y += c·x, the step of a vector × matrix product done row by row (<c>r·M = Σ_k r[k]·M[k, :]</c>):
/// scalar equivalent <c>y[j] += c·x[j]</c>.
/// </summary>
internal static unsafe class MultiplyAdd
{
    /// <summary>y[j] += c·x[j] for j &lt; <paramref name="n"/>; x and y may not overlap.</summary>
    public static void Invoke(SimdWidth width, float* x, float c, float* y, int n)
    {
        int j = width switch
        {
            SimdWidth.Vector512 => Vector<Simd512, Vector512<float>>(x, c, y, n),
            SimdWidth.Vector256 => Vector<Simd256, Vector256<float>>(x, c, y, n),
            SimdWidth.Vector128 => Vector<Simd128, Vector128<float>>(x, c, y, n),
            _ => 0,
        };
        for (; j < n; j++)
        {
            y[j] += c * x[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Vector<TSimd, TVec>(float* x, float c, float* y, int n)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count, j = 0;
        TVec cv = TSimd.Broadcast(c);
        for (; j <= n - count; j += count)
        {
            TSimd.Store(TSimd.MultiplyAdd(TSimd.Load(x + j), cv, TSimd.Load(y + j)), y + j);
        }

        return j;
    }
}
