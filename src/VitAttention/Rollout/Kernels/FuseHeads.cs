using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Fuses one row across heads and gathers what the input checks need, in the same single read of the input:
/// scalar equivalent <c>dst[j] = op_h(src[h·headStride + j])</c> (the sum for mean fusion, max, min), for each head
/// <c>sums[h] = Σ_j src_h[j]</c>, and the return value <c>min_{h,j} src_h[j]</c>.
/// </summary>
/// <remarks>
/// Heads are taken four at a time: for each vector position the four heads are combined in registers and the
/// destination is read and written once per four heads, with four independent sum accumulators (one per head) and
/// one running minimum. This keeps the loop load-bound rather than bound by a single add chain or by L1 traffic on
/// the destination. Leftover heads (heads mod 4) go one at a time. Rows are not padded, so each row ends with a
/// scalar tail of n mod Count floats (an overlapping or wider last vector could read past the stack's end).
/// </remarks>
internal static unsafe class FuseHeads
{
    /// <summary>Fuses <paramref name="heads"/> rows of <paramref name="n"/> floats, <paramref name="headStride"/> floats apart.</summary>
    /// <param name="fusion">Mean (writes the sum over heads), max or min.</param>
    /// <param name="width">The vector width to run at.</param>
    /// <param name="source">Row of head 0.</param>
    /// <param name="headStride">Floats from one head's row to the next head's.</param>
    /// <param name="heads">Heads to fuse (at least 1).</param>
    /// <param name="n">Floats per row.</param>
    /// <param name="destination">The fused row, <paramref name="n"/> floats; may not overlap the source.</param>
    /// <param name="sums">Per head, the row's sum (<paramref name="heads"/> floats). NaN or infinity in a row makes its sum non-finite.</param>
    /// <returns>The smallest value read (NaN inputs may or may not show here; they always show in the sums).</returns>
    public static float Invoke(HeadFusion fusion, SimdWidth width, float* source, long headStride, int heads, int n, float* destination, float* sums) =>
        fusion switch
        {
            HeadFusion.Max => Invoke<MaxOperator>(width, source, headStride, heads, n, destination, sums),
            HeadFusion.Min => Invoke<MinOperator>(width, source, headStride, heads, n, destination, sums),
            _ => Invoke<AddOperator>(width, source, headStride, heads, n, destination, sums),
        };

    private static float Invoke<TOp>(SimdWidth width, float* source, long headStride, int heads, int n, float* destination, float* sums)
        where TOp : IFusionOperator => width switch
        {
            SimdWidth.Vector512 => Vector<TOp, Simd512, Vector512<float>>(source, headStride, heads, n, destination, sums),
            SimdWidth.Vector256 => Vector<TOp, Simd256, Vector256<float>>(source, headStride, heads, n, destination, sums),
            SimdWidth.Vector128 => Vector<TOp, Simd128, Vector128<float>>(source, headStride, heads, n, destination, sums),
            _ => Scalar<TOp>(source, headStride, heads, n, destination, sums),
        };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Scalar<TOp>(float* source, long headStride, int heads, int n, float* destination, float* sums)
        where TOp : IFusionOperator
    {
        float min = float.PositiveInfinity;
        for (int h = 0; h < heads; h++)
        {
            float* a = source + (h * headStride);
            float sum = 0f;
            for (int j = 0; j < n; j++)
            {
                float v = a[j];
                destination[j] = h == 0 ? v : TOp.Invoke(destination[j], v);
                sum += v;
                min = Min(min, v);
            }

            sums[h] = sum;
        }

        return min;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Vector<TOp, TSimd, TVec>(float* source, long headStride, int heads, int n, float* destination, float* sums)
        where TOp : IFusionOperator
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count;
        int body = n - (n % count);
        TVec min = TSimd.Broadcast(float.PositiveInfinity);
        float minTail = float.PositiveInfinity;
        int h = 0;
        for (; h + 4 <= heads; h += 4)
        {
            float* a0 = source + (h * headStride), a1 = a0 + headStride, a2 = a1 + headStride, a3 = a2 + headStride;
            TVec s0 = TSimd.Zero, s1 = TSimd.Zero, s2 = TSimd.Zero, s3 = TSimd.Zero;
            bool first = h == 0;
            for (int j = 0; j < body; j += count)
            {
                TVec v0 = TSimd.Load(a0 + j), v1 = TSimd.Load(a1 + j), v2 = TSimd.Load(a2 + j), v3 = TSimd.Load(a3 + j);
                s0 = TSimd.Add(s0, v0);
                s1 = TSimd.Add(s1, v1);
                s2 = TSimd.Add(s2, v2);
                s3 = TSimd.Add(s3, v3);
                min = TSimd.Min(min, TSimd.Min(TSimd.Min(v0, v1), TSimd.Min(v2, v3)));
                TVec f = TOp.Invoke<TSimd, TVec>(TOp.Invoke<TSimd, TVec>(v0, v1), TOp.Invoke<TSimd, TVec>(v2, v3));
                TSimd.Store(first ? f : TOp.Invoke<TSimd, TVec>(TSimd.Load(destination + j), f), destination + j);
            }

            float t0 = TSimd.Sum(s0), t1 = TSimd.Sum(s1), t2 = TSimd.Sum(s2), t3 = TSimd.Sum(s3);
            for (int j = body; j < n; j++)
            {
                float x0 = a0[j], x1 = a1[j], x2 = a2[j], x3 = a3[j];
                t0 += x0;
                t1 += x1;
                t2 += x2;
                t3 += x3;
                minTail = Min(minTail, Min(Min(x0, x1), Min(x2, x3)));
                float f = TOp.Invoke(TOp.Invoke(x0, x1), TOp.Invoke(x2, x3));
                destination[j] = first ? f : TOp.Invoke(destination[j], f);
            }

            sums[h] = t0;
            sums[h + 1] = t1;
            sums[h + 2] = t2;
            sums[h + 3] = t3;
        }

        for (; h < heads; h++)
        {
            float* a = source + (h * headStride);
            TVec s = TSimd.Zero;
            bool first = h == 0;
            for (int j = 0; j < body; j += count)
            {
                TVec v = TSimd.Load(a + j);
                s = TSimd.Add(s, v);
                min = TSimd.Min(min, v);
                TSimd.Store(first ? v : TOp.Invoke<TSimd, TVec>(TSimd.Load(destination + j), v), destination + j);
            }

            float t = TSimd.Sum(s);
            for (int j = body; j < n; j++)
            {
                float x = a[j];
                t += x;
                minTail = Min(minTail, x);
                destination[j] = first ? x : TOp.Invoke(destination[j], x);
            }

            sums[h] = t;
        }

        return Min(TSimd.MinAcross(min), minTail);
    }

    // The plain comparison (one instruction), like the vector MinNative: NaN handling is left to the sums.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Min(float x, float y) => x < y ? x : y;
}
