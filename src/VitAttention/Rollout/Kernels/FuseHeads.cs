using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Fuses one row across heads and gathers what the input checks need, in two passes over the heads' rows:
/// <see cref="SumHeads"/> (for each head <c>sums[h] = Σ_j src_h[j]</c>, and whether any value read has its sign
/// bit set), then <see cref="Fuse"/> (<c>dst[j] = factor · op_h(src[h·headStride + j])</c>, the sum for mean
/// fusion, max or min; or <c>dst[j] += …</c>). The factor is the row normalisation, known from the sums for mean
/// fusion, so a mean-fused row is written (or added into a vector × matrix product) once, already normalised.
/// </summary>
/// <remarks>
/// <para>The second pass reads from L1: first each head's row is summed on its own (two accumulators, the sign
/// bits OR-ed in: one load, one add and one OR per vector), then each destination vector is the fusion of the
/// heads' vectors at that position, combined in registers (two accumulators) and stored once.
/// A row of every head is 12 × 788 bytes at ViT-B/16, well inside L1, so the second pass costs no memory traffic;
/// writing the destination once instead of once per head group is what makes the loop lean enough to stream at
/// close to the memory floor.</para>
/// <para>The first pass starts by prefetching the next row of every head (<c>src_h + n</c>, the row a caller fuses
/// next) into L1, where the hardware has a prefetch instruction and the rows are short (see
/// <see cref="PrefetchLimitBytes"/>): without it a 197-token row waits on its cache misses (docs/benchmarks/rollout.md). A prefetch never faults, so the last row of a stack may point past its end.</para>
/// <para>Remainder: rows are not padded, so n mod Count floats are left after the vector body. When n ≥ Count
/// they are taken by one overlapping last vector at n − Count; in the sums and in an accumulated destination its
/// lanes already counted are masked to zero, and in an overwritten destination they are recomputed in the same
/// order and rewritten with the same values.
/// Rows shorter than one vector run the scalar loop.</para>
/// </remarks>
internal static unsafe class FuseHeads
{
    /// <summary>
    /// The largest next-row group (heads × n floats) that is prefetched: a third of a 48 KB L1. Larger groups
    /// (12 heads of more than ~340 tokens) would evict the rows being read, and their longer runs are what the
    /// hardware prefetcher follows well on its own (docs/benchmarks/rollout.md).
    /// </summary>
    public const int PrefetchLimitBytes = 16 * 1024;

    /// <summary>
    /// Pass 1: <c>sums[h] = Σ_j src_h[j]</c> for each head, and whether any value read has its sign bit set; also
    /// prefetches each head's next row.
    /// </summary>
    /// <param name="width">The vector width to run at.</param>
    /// <param name="source">Row of head 0.</param>
    /// <param name="headStride">Floats from one head's row to the next head's.</param>
    /// <param name="heads">Heads (at least 1).</param>
    /// <param name="n">Floats per row.</param>
    /// <param name="sums">Per head, the row's sum (<paramref name="heads"/> floats), or null when only the total is
    /// wanted (the per-head sums cost a reduction per head).</param>
    /// <param name="signBits">Whether a value read has its sign bit set: true for every negative value (and for −0,
    /// and NaN with the sign bit, which the caller tells apart); false means no value is negative.</param>
    /// <returns>The sum over all heads (accumulated apart from the per-head sums, so nothing waits on those).</returns>
    public static float SumHeads(SimdWidth width, float* source, long headStride, int heads, int n, float* sums, out bool signBits) => width switch
    {
        SimdWidth.Vector512 => SumHeads<Simd512, Vector512<float>>(source, headStride, heads, n, sums, out signBits),
        SimdWidth.Vector256 => SumHeads<Simd256, Vector256<float>>(source, headStride, heads, n, sums, out signBits),
        SimdWidth.Vector128 => SumHeads<Simd128, Vector128<float>>(source, headStride, heads, n, sums, out signBits),
        _ => SumHeadsScalar(source, headStride, heads, n, sums, out signBits),
    };

    /// <summary>
    /// Pass 2: the fused row, scaled: <c>dst[j] = factor · op_h(src_h[j])</c> (<paramref name="accumulate"/> false)
    /// or <c>dst[j] += factor · op_h(src_h[j])</c> (true: the step of a vector × matrix product).
    /// </summary>
    /// <param name="fusion">Mean (the sum over heads), max or min.</param>
    /// <param name="width">The vector width to run at.</param>
    /// <param name="source">Row of head 0.</param>
    /// <param name="headStride">Floats from one head's row to the next head's.</param>
    /// <param name="heads">Heads (at least 1).</param>
    /// <param name="n">Floats per row.</param>
    /// <param name="factor">Multiplies the fused value.</param>
    /// <param name="destination"><paramref name="n"/> floats; may not overlap the source.</param>
    /// <param name="accumulate">Add into the destination instead of overwriting it.</param>
    public static void Fuse(HeadFusion fusion, SimdWidth width, float* source, long headStride, int heads, int n, float factor, float* destination, bool accumulate)
    {
        switch (fusion)
        {
            case HeadFusion.Max:
                Fuse<MaxOperator>(width, source, headStride, heads, n, factor, destination, accumulate);
                break;
            case HeadFusion.Min:
                Fuse<MinOperator>(width, source, headStride, heads, n, factor, destination, accumulate);
                break;
            default:
                Fuse<AddOperator>(width, source, headStride, heads, n, factor, destination, accumulate);
                break;
        }
    }

    private static void Fuse<TOp>(SimdWidth width, float* source, long headStride, int heads, int n, float factor, float* destination, bool accumulate)
        where TOp : IFusionOperator
    {
        switch (width)
        {
            case SimdWidth.Vector512:
                Fuse<TOp, Simd512, Vector512<float>>(source, headStride, heads, n, factor, destination, accumulate);
                break;
            case SimdWidth.Vector256:
                Fuse<TOp, Simd256, Vector256<float>>(source, headStride, heads, n, factor, destination, accumulate);
                break;
            case SimdWidth.Vector128:
                Fuse<TOp, Simd128, Vector128<float>>(source, headStride, heads, n, factor, destination, accumulate);
                break;
            default:
                FuseScalar<TOp>(source, headStride, heads, n, factor, destination, accumulate);
                break;
        }
    }

    /// <summary>
    /// One layer's step of a rollout row for mean fusion, over rows [<paramref name="from"/>, n): for each row k, pass 1
    /// over every head's row k (<see cref="SumHeads"/>), then, when r[k] ≠ 0, pass 2 adds
    /// <c>factor_k · Σ_h A_h[k, :]</c> into <paramref name="next"/> and <c>(1 − α)·r[k]/total_k</c> into next[k], with
    /// <c>total_k = α·Σ_h sums_h/heads + (1 − α)</c> and <c>factor_k = α·r[k]/(heads·total_k)</c>: the rows of
    /// rownorm(α·mean_h(A) + (1 − α)·I) weighted by r. One call per layer instead of two kernel calls per row.
    /// </summary>
    /// <param name="width">The vector width to run at.</param>
    /// <param name="layer">Row 0 of head 0 of the layer (one batch item).</param>
    /// <param name="headStride">Floats from one head's matrix to the next.</param>
    /// <param name="heads">Heads (at least 1).</param>
    /// <param name="n">Tokens.</param>
    /// <param name="from">The first row to take.</param>
    /// <param name="r">The current row vector, n floats.</param>
    /// <param name="next">Where r·Ã accumulates, n floats.</param>
    /// <param name="alpha">α.</param>
    /// <param name="sums">Scratch for the per-head sums (heads floats), or null to skip the row-sum check.</param>
    /// <param name="tolerance">How far from 1 a head's row sum may be.</param>
    /// <returns>n when every row was taken; otherwise the first row that needs a closer look, before its pass 2: a
    /// total that is not finite or not positive, a sign bit set, or a head's row sum off by more than the tolerance.
    /// The scalar width takes no row (returns <paramref name="from"/>): its caller's per-row path does them all.</returns>
    public static int MeanRowStep(SimdWidth width, float* layer, long headStride, int heads, int n, int from, float* r, float* next, float alpha, float* sums, float tolerance) => width switch
    {
        SimdWidth.Vector512 => MeanRowStep<Simd512, Vector512<float>>(layer, headStride, heads, n, from, r, next, alpha, sums, tolerance),
        SimdWidth.Vector256 => MeanRowStep<Simd256, Vector256<float>>(layer, headStride, heads, n, from, r, next, alpha, sums, tolerance),
        SimdWidth.Vector128 => MeanRowStep<Simd128, Vector128<float>>(layer, headStride, heads, n, from, r, next, alpha, sums, tolerance),
        _ => from,
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int MeanRowStep<TSimd, TVec>(float* layer, long headStride, int heads, int n, int from, float* r, float* next, float alpha, float* sums, float tolerance)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        float mix = 1f - alpha, share = alpha / heads;
        for (int k = from; k < n; k++)
        {
            float* source = layer + ((long)k * n);
            float sum = SumHeads<TSimd, TVec>(source, headStride, heads, n, sums, out bool signBits);
            float total = (share * sum) + mix;
            if (!float.IsFinite(sum) || signBits || !(total > 0f))
            {
                return k;
            }

            for (int h = 0; sums != null && h < heads; h++)
            {
                if (MathF.Abs(sums[h] - 1f) > tolerance)
                {
                    return k;
                }
            }

            float rk = r[k];
            if (rk != 0f)
            {
                Fuse<AddOperator, TSimd, TVec>(source, headStride, heads, n, rk * share / total, next, accumulate: true);
                next[k] += rk * mix / total;
            }
        }

        return n;
    }

    private static float SumHeadsScalar(float* source, long headStride, int heads, int n, float* sums, out bool signBits)
    {
        int signs = 0;
        float total = 0f;
        for (int h = 0; h < heads; h++)
        {
            float* a = source + (h * headStride);
            float sum = 0f;
            for (int j = 0; j < n; j++)
            {
                sum += a[j];
                signs |= BitConverter.SingleToInt32Bits(a[j]);
            }

            if (sums != null)
            {
                sums[h] = sum;
            }

            total += sum;
        }

        signBits = signs < 0;
        return total;
    }

    private static void FuseScalar<TOp>(float* source, long headStride, int heads, int n, float factor, float* destination, bool accumulate)
        where TOp : IFusionOperator
    {
        for (int j = 0; j < n; j++)
        {
            float f = source[j];
            for (int h = 1; h < heads; h++)
            {
                f = TOp.Invoke(f, source[(h * headStride) + j]);
            }

            destination[j] = accumulate ? destination[j] + (factor * f) : factor * f;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float SumHeads<TSimd, TVec>(float* source, long headStride, int heads, int n, float* sums, out bool signBits)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count;
        if ((long)heads * n * sizeof(float) <= PrefetchLimitBytes)
        {
            PrefetchNextRows(source + n, headStride, heads, n);
        }

        if (n < count)
        {
            return SumHeadsScalar(source, headStride, heads, n, sums, out signBits);
        }

        int body = n - (n % count);
        int last = n - count;                      // the overlapping last vector's start
        bool tail = body != n;
        TVec fresh = TSimd.KeepLast(n - body);     // its lanes not already in the body
        TVec signs = TSimd.Zero;                   // the OR of every value's bits: the sign bit survives
        TVec total = TSimd.Zero;
        float* a = source;
        for (int h = 0; h < heads; h++, a += headStride)
        {
            TVec s0 = TSimd.Zero, s1 = TSimd.Zero;
            int j = 0;
            for (; j + (2 * count) <= body; j += 2 * count)
            {
                TVec v0 = TSimd.Load(a + j), v1 = TSimd.Load(a + j + count);
                s0 = TSimd.Add(s0, v0);
                s1 = TSimd.Add(s1, v1);
                signs = TSimd.Or(signs, TSimd.Or(v0, v1));
            }

            if (j < body)
            {
                TVec v = TSimd.Load(a + j);
                s0 = TSimd.Add(s0, v);
                signs = TSimd.Or(signs, v);
            }

            if (tail)
            {
                TVec v = TSimd.And(TSimd.Load(a + last), fresh);
                s1 = TSimd.Add(s1, v);
                signs = TSimd.Or(signs, v);
            }

            TVec s = TSimd.Add(s0, s1);
            total = TSimd.Add(total, s);
            if (sums != null)
            {
                sums[h] = TSimd.Sum(s);
            }
        }

        signBits = TSimd.AnySignBit(signs);
        return TSimd.Sum(total);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Fuse<TOp, TSimd, TVec>(float* source, long headStride, int heads, int n, float factor, float* destination, bool accumulate)
        where TOp : IFusionOperator
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count;
        if (n < count)
        {
            FuseScalar<TOp>(source, headStride, heads, n, factor, destination, accumulate);
            return;
        }

        int body = n - (n % count);
        int last = n - count;
        TVec f = TSimd.Broadcast(factor);
        if (accumulate)
        {
            for (int j = 0; j < body; j += count)
            {
                TVec fused = FuseAt<TOp, TSimd, TVec>(source + j, headStride, heads);
                TSimd.Store(TSimd.MultiplyAdd(fused, f, TSimd.Load(destination + j)), destination + j);
            }

            if (body != n)
            {
                // Only the lanes not already added: the others are masked to zero.
                TVec fused = TSimd.And(FuseAt<TOp, TSimd, TVec>(source + last, headStride, heads), TSimd.KeepLast(n - body));
                TSimd.Store(TSimd.MultiplyAdd(fused, f, TSimd.Load(destination + last)), destination + last);
            }

            return;
        }

        for (int j = 0; j < body; j += count)
        {
            TSimd.Store(TSimd.Multiply(FuseAt<TOp, TSimd, TVec>(source + j, headStride, heads), f), destination + j);
        }

        if (body != n)
        {
            // Lanes already written are recomputed in the same order and rewritten with the same values.
            TSimd.Store(TSimd.Multiply(FuseAt<TOp, TSimd, TVec>(source + last, headStride, heads), f), destination + last);
        }
    }

    // op over heads of the vector at p, p + headStride, …: even heads into one accumulator, odd into another.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec FuseAt<TOp, TSimd, TVec>(float* p, long headStride, int heads)
        where TOp : IFusionOperator
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        TVec even = TSimd.Load(p);
        if (heads == 1)
        {
            return even;
        }

        TVec odd = TSimd.Load(p + headStride);
        int h = 2;
        for (p += 2 * headStride; h + 2 <= heads; h += 2, p += 2 * headStride)
        {
            even = TOp.Invoke<TSimd, TVec>(even, TSimd.Load(p));
            odd = TOp.Invoke<TSimd, TVec>(odd, TSimd.Load(p + headStride));
        }

        if (h < heads)
        {
            even = TOp.Invoke<TSimd, TVec>(even, TSimd.Load(p));
        }

        return TOp.Invoke<TSimd, TVec>(even, odd);
    }

    // Each head's next row into L1.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchNextRows(float* next, long headStride, int heads, int n)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        for (int h = 0; h < heads; h++)
        {
            // Exactly the lines the row touches: from the line of its first byte to the line of its last.
            byte* row = (byte*)(next + (h * headStride));
            byte* end = row + (n * sizeof(float));
            for (byte* line = (byte*)((nuint)row & ~(nuint)63); line < end; line += 64)
            {
                Sse.Prefetch0(line);
            }
        }
    }
}
