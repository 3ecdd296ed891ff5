using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Fuses one row across heads and gathers what the input checks need, in the same single read of the input:
/// scalar equivalent <c>dst[j] = op_h(src[h·headStride + j])</c> (the sum for mean fusion, max, min), and for each
/// head <c>sums[h] = Σ_j src_h[j]</c>, <c>mins[h] = min_j src_h[j]</c>.
/// </summary>
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
    /// <param name="sums">Per head, the row's sum (<paramref name="heads"/> floats).</param>
    /// <param name="mins">Per head, the row's smallest value (<paramref name="heads"/> floats).</param>
    public static void Invoke(
        HeadFusion fusion, SimdWidth width, float* source, long headStride, int heads, int n, float* destination, float* sums, float* mins)
    {
        switch (fusion)
        {
            case HeadFusion.Max:
                Invoke<MaxOperator>(width, source, headStride, heads, n, destination, sums, mins);
                break;
            case HeadFusion.Min:
                Invoke<MinOperator>(width, source, headStride, heads, n, destination, sums, mins);
                break;
            default:
                Invoke<AddOperator>(width, source, headStride, heads, n, destination, sums, mins);
                break;
        }
    }

    private static void Invoke<TOp>(
        SimdWidth width, float* source, long headStride, int heads, int n, float* destination, float* sums, float* mins)
        where TOp : IFusionOperator
    {
        switch (width)
        {
            case SimdWidth.Vector512:
                Vector<TOp, Simd512, Vector512<float>>(source, headStride, heads, n, destination, sums, mins);
                break;
            case SimdWidth.Vector256:
                Vector<TOp, Simd256, Vector256<float>>(source, headStride, heads, n, destination, sums, mins);
                break;
            case SimdWidth.Vector128:
                Vector<TOp, Simd128, Vector128<float>>(source, headStride, heads, n, destination, sums, mins);
                break;
            default:
                Scalar<TOp>(source, headStride, heads, n, destination, sums, mins);
                break;
        }
    }

    private static void Scalar<TOp>(float* source, long headStride, int heads, int n, float* destination, float* sums, float* mins)
        where TOp : IFusionOperator
    {
        for (int h = 0; h < heads; h++)
        {
            float* a = source + (h * headStride);
            float sum = 0f, min = float.PositiveInfinity;
            for (int j = 0; j < n; j++)
            {
                float v = a[j];
                destination[j] = h == 0 ? v : TOp.Invoke(destination[j], v);
                sum += v;
                min = MathF.Min(min, v);
            }

            sums[h] = sum;
            mins[h] = min;
        }
    }

    // Vector body over whole vectors, scalar tail for the last n mod Count floats (the input rows are not padded,
    // so an overlapping or wider last vector could read past the stack's end).
    private static void Vector<TOp, TSimd, TVec>(
        float* source, long headStride, int heads, int n, float* destination, float* sums, float* mins)
        where TOp : IFusionOperator
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count;
        int body = n - (n % count);
        for (int h = 0; h < heads; h++)
        {
            float* a = source + (h * headStride);
            TVec sum = TSimd.Zero;
            TVec min = TSimd.Broadcast(float.PositiveInfinity);
            int j = 0;
            if (h == 0)
            {
                for (; j < body; j += count)
                {
                    TVec v = TSimd.Load(a + j);
                    TSimd.Store(v, destination + j);
                    sum = TSimd.Add(sum, v);
                    min = TSimd.Min(min, v);
                }
            }
            else
            {
                for (; j < body; j += count)
                {
                    TVec v = TSimd.Load(a + j);
                    TSimd.Store(TOp.Invoke<TSimd, TVec>(TSimd.Load(destination + j), v), destination + j);
                    sum = TSimd.Add(sum, v);
                    min = TSimd.Min(min, v);
                }
            }

            float s = TSimd.Sum(sum);
            float m = TSimd.MinAcross(min);
            for (; j < n; j++)
            {
                float v = a[j];
                destination[j] = h == 0 ? v : TOp.Invoke(destination[j], v);
                s += v;
                m = MathF.Min(m, v);
            }

            sums[h] = s;
            mins[h] = m;
        }
    }
}
