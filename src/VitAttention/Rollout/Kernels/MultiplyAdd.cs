using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

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
