using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

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
