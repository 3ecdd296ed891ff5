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
