using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Square-ish matrix product on padded row-major buffers, scalar equivalent
/// <c>C[i, j] = Σ_{p &lt; k} A[i, p]·B[p, j]</c>. TensorPrimitives has no matrix product and a row-wise
/// <c>MultiplyAdd</c> loop is far from the FMA peak (docs/benchmarks/rollout.md), so this is a register-blocked FMA micro-kernel: a tile of
/// <see cref="RowBlock"/> rows × 2 vectors of C stays in 12 registers while p runs over k, each step one broadcast
/// of A per row and two loads of B. Columns are walked in strips of two vectors (outer) and rows in blocks (inner),
/// so the strip of B (k × 2 vectors, 25 KB at k = 197 with 512-bit vectors) stays in L1 while every row block
/// passes over it.
/// </summary>
/// <remarks>
/// Layout contract (the engine pads its buffers so that no tile needs a tail): every buffer has row stride
/// <c>ld</c>; <c>columns</c> and <c>ld</c> are multiples of <see cref="ColumnAlignment"/> (so of every vector
/// width); the row range is a multiple of <see cref="RowBlock"/>; B's padding columns are zero, so C's are too.
/// </remarks>
internal static unsafe class MatrixMultiply
{
    /// <summary>Rows of C per register tile.</summary>
    public const int RowBlock = 6;

    /// <summary>Padding of columns and strides: the widest vector's lane count.</summary>
    public const int ColumnAlignment = 16;

    /// <summary>C[i, j] = Σ_p A[i, p]·B[p, j] for <paramref name="rowStart"/> ≤ i &lt; <paramref name="rowEnd"/>, j &lt; <paramref name="columns"/>.</summary>
    /// <param name="width">The vector width to run at.</param>
    /// <param name="a">A, row stride <paramref name="ld"/>.</param>
    /// <param name="b">B, row stride <paramref name="ld"/>, <paramref name="k"/> rows.</param>
    /// <param name="c">C, row stride <paramref name="ld"/>; may not overlap A or B.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="columns">Columns of B and C (a multiple of <see cref="ColumnAlignment"/>).</param>
    /// <param name="ld">Row stride of all three (a multiple of <see cref="ColumnAlignment"/>).</param>
    /// <param name="rowStart">First row of C to compute (a multiple of <see cref="RowBlock"/>).</param>
    /// <param name="rowEnd">End of the rows to compute (a multiple of <see cref="RowBlock"/>).</param>
    /// <param name="prefetch">Memory to bring into L2 while the FMAs run (what the caller reads next), or default.</param>
    public static void Invoke(SimdWidth width, float* a, float* b, float* c, int k, int columns, int ld, int rowStart, int rowEnd, PrefetchPlan prefetch = default)
    {
        switch (width)
        {
            case SimdWidth.Vector512:
                Vector<Simd512, Vector512<float>>(a, b, c, k, columns, ld, rowStart, rowEnd, prefetch);
                break;
            case SimdWidth.Vector256:
                Vector<Simd256, Vector256<float>>(a, b, c, k, columns, ld, rowStart, rowEnd, prefetch);
                break;
            case SimdWidth.Vector128:
                Vector<Simd128, Vector128<float>>(a, b, c, k, columns, ld, rowStart, rowEnd, prefetch);
                break;
            default:
                Scalar(a, b, c, k, columns, ld, rowStart, rowEnd);
                break;
        }
    }

    private static void Scalar(float* a, float* b, float* c, int k, int columns, int ld, int rowStart, int rowEnd)
    {
        for (int i = rowStart; i < rowEnd; i++)
        {
            float* ci = c + ((long)i * ld);
            new Span<float>(ci, columns).Clear();
            for (int p = 0; p < k; p++)
            {
                float aip = a[((long)i * ld) + p];
                float* bp = b + ((long)p * ld);
                for (int j = 0; j < columns; j++)
                {
                    ci[j] += aip * bp[j];
                }
            }
        }
    }

    private static void Vector<TSimd, TVec>(float* a, float* b, float* c, int k, int columns, int ld, int rowStart, int rowEnd, PrefetchPlan prefetch)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count;
        int j = 0, tile = 0;
        for (; j + (2 * count) <= columns; j += 2 * count)
        {
            for (int i = rowStart; i < rowEnd; i += RowBlock, tile++)
            {
                // Each tile prefetches the next k lines of the plan (two per pair of steps); none: it re-touches C.
                byte* lines = prefetch.Line(tile * k);
                Tile2<TSimd, TVec>(a + ((long)i * ld), b + j, c + ((long)i * ld) + j, k, ld, lines == null ? (byte*)c : lines, lines == null ? 0 : 128);
            }
        }

        if (j < columns)
        {
            // One vector left (columns / count is odd): a narrower tile, same row blocks.
            for (int i = rowStart; i < rowEnd; i += RowBlock)
            {
                Tile1<TSimd, TVec>(a + ((long)i * ld), b + j, c + ((long)i * ld) + j, k, ld);
            }
        }
    }

    // C[0..6, 0..2·count] = A[0..6, 0..k] · B[0..k, 0..2·count]; 12 accumulators. Every second step also prefetches
    // two lines into L2 (prefetch, prefetch + 64, then prefetch += step): spread this thinly, the memory the caller
    // reads next streams in under the FMAs without taking their load slots (a burst of prefetches per tile did).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile2<TSimd, TVec>(float* a, float* b, float* c, int k, int ld, byte* prefetch, int step)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        int count = TSimd.Count;
        bool hint = Sse.IsSupported;
        TVec c00 = TSimd.Zero, c01 = TSimd.Zero, c10 = TSimd.Zero, c11 = TSimd.Zero;
        TVec c20 = TSimd.Zero, c21 = TSimd.Zero, c30 = TSimd.Zero, c31 = TSimd.Zero;
        TVec c40 = TSimd.Zero, c41 = TSimd.Zero, c50 = TSimd.Zero, c51 = TSimd.Zero;
        float* a0 = a, a1 = a + ld, a2 = a1 + ld, a3 = a2 + ld, a4 = a3 + ld, a5 = a4 + ld;
        float* bp = b;
        for (int p = 0; p < k; p++, bp += ld)
        {
            if (hint && (p & 1) == 0)
            {
                Sse.Prefetch1(prefetch);
                Sse.Prefetch1(prefetch + 64);
                prefetch += step;
            }

            TVec b0 = TSimd.Load(bp);
            TVec b1 = TSimd.Load(bp + count);
            TVec x = TSimd.Broadcast(a0[p]);
            c00 = TSimd.MultiplyAdd(x, b0, c00);
            c01 = TSimd.MultiplyAdd(x, b1, c01);
            x = TSimd.Broadcast(a1[p]);
            c10 = TSimd.MultiplyAdd(x, b0, c10);
            c11 = TSimd.MultiplyAdd(x, b1, c11);
            x = TSimd.Broadcast(a2[p]);
            c20 = TSimd.MultiplyAdd(x, b0, c20);
            c21 = TSimd.MultiplyAdd(x, b1, c21);
            x = TSimd.Broadcast(a3[p]);
            c30 = TSimd.MultiplyAdd(x, b0, c30);
            c31 = TSimd.MultiplyAdd(x, b1, c31);
            x = TSimd.Broadcast(a4[p]);
            c40 = TSimd.MultiplyAdd(x, b0, c40);
            c41 = TSimd.MultiplyAdd(x, b1, c41);
            x = TSimd.Broadcast(a5[p]);
            c50 = TSimd.MultiplyAdd(x, b0, c50);
            c51 = TSimd.MultiplyAdd(x, b1, c51);
        }

        TSimd.Store(c00, c);
        TSimd.Store(c01, c + count);
        c += ld;
        TSimd.Store(c10, c);
        TSimd.Store(c11, c + count);
        c += ld;
        TSimd.Store(c20, c);
        TSimd.Store(c21, c + count);
        c += ld;
        TSimd.Store(c30, c);
        TSimd.Store(c31, c + count);
        c += ld;
        TSimd.Store(c40, c);
        TSimd.Store(c41, c + count);
        c += ld;
        TSimd.Store(c50, c);
        TSimd.Store(c51, c + count);
    }

    // C[0..6, 0..count] = A[0..6, 0..k] · B[0..k, 0..count]; 6 accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1<TSimd, TVec>(float* a, float* b, float* c, int k, int ld)
        where TSimd : ISimd<TVec>
        where TVec : struct
    {
        TVec c0 = TSimd.Zero, c1 = TSimd.Zero, c2 = TSimd.Zero, c3 = TSimd.Zero, c4 = TSimd.Zero, c5 = TSimd.Zero;
        float* a0 = a, a1 = a + ld, a2 = a1 + ld, a3 = a2 + ld, a4 = a3 + ld, a5 = a4 + ld;
        float* bp = b;
        for (int p = 0; p < k; p++, bp += ld)
        {
            TVec b0 = TSimd.Load(bp);
            c0 = TSimd.MultiplyAdd(TSimd.Broadcast(a0[p]), b0, c0);
            c1 = TSimd.MultiplyAdd(TSimd.Broadcast(a1[p]), b0, c1);
            c2 = TSimd.MultiplyAdd(TSimd.Broadcast(a2[p]), b0, c2);
            c3 = TSimd.MultiplyAdd(TSimd.Broadcast(a3[p]), b0, c3);
            c4 = TSimd.MultiplyAdd(TSimd.Broadcast(a4[p]), b0, c4);
            c5 = TSimd.MultiplyAdd(TSimd.Broadcast(a5[p]), b0, c5);
        }

        TSimd.Store(c0, c);
        TSimd.Store(c1, c + ld);
        TSimd.Store(c2, c + (2 * ld));
        TSimd.Store(c3, c + (3 * ld));
        TSimd.Store(c4, c + (4 * ld));
        TSimd.Store(c5, c + (5 * ld));
    }
}
