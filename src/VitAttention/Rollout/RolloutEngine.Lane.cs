using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using VitAttention.Inference;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Rollout;

public sealed unsafe partial class RolloutEngine
{
    /// <summary>
    /// One thread's workspace: padded buffers (row stride a multiple of 16 floats, rows a multiple of the
    /// micro-kernel's row block, padding kept zero) and the per-layer steps. The main lane also holds the running
    /// products of <see cref="MatrixJob"/>; a helper thread's lane has only its own scratch.
    /// </summary>
    private sealed class Lane
    {
        private readonly SimdWidth _width;
        private AlignedBuffer? _layer;    // Ã_l on the discard path; else the upper chain's first product, [rows, ld]
        private AlignedBuffer? _product;  // running product, [rows, ld]
        private AlignedBuffer? _spare;    // next product, [rows, ld]
        private AlignedBuffer? _extra;    // a second chain's buffer, [rows, ld]
        private AlignedBuffer? _block;    // one block of fused rows, [MatrixJob.BlockRows, ld]
        private AlignedBuffer? _vector;   // running row, [ld]
        private AlignedBuffer? _next;     // next row, [ld]
        private AlignedBuffer? _fused;    // one fused row, [ld]
        private readonly int[] _histogram = new int[DiscardLowest.HistogramLength]; // discard selection
        private uint[] _select = [];      // discard selection's candidates, [(tokens − prefix)²], on first use
        private AlignedBuffer? _sums;     // per head row sums, [heads]
        private float[] _rowSums = [];    // fused row sums, [tokens]
        private int _tokens;

        private readonly bool _scratchOnly;

        /// <summary>A lane; a scratch-only lane (a helper thread's) holds just its block of fused rows and row sums.</summary>
        public Lane(SimdWidth width, bool scratchOnly = false) => (_width, _scratchOnly) = (width, scratchOnly);

        public SimdWidth Width => _width;

        public int Stride { get; private set; }

        /// <summary>Rows of the padded matrices (a multiple of <see cref="MatrixMultiply.RowBlock"/>).</summary>
        public int RowsPadded { get; private set; }

        /// <summary>The four padded matrices the full rollout works in: two per chain.</summary>
        public float* Matrix(int index) => index switch
        {
            0 => _product!.Pointer,
            1 => _spare!.Pointer,
            2 => _layer!.Pointer,
            _ => _extra!.Pointer,
        };

        public float* Block => _block!.Pointer;

        /// <summary>Sizes the buffers for a shape; allocates only when the shape grows.</summary>
        public void Prepare(AttentionShape shape)
        {
            if (shape.Heads > (_sums?.Length ?? 0))
            {
                _sums = new AlignedBuffer(shape.Heads);
            }

            if (shape.Tokens == _tokens)
            {
                return;
            }

            int n = shape.Tokens;
            int ld = checked((n + MatrixMultiply.ColumnAlignment - 1) / MatrixMultiply.ColumnAlignment * MatrixMultiply.ColumnAlignment);
            int rows = checked((n + MatrixMultiply.RowBlock - 1) / MatrixMultiply.RowBlock * MatrixMultiply.RowBlock);
            int matrix = checked(rows * ld);
            _block = new AlignedBuffer(checked(MatrixJob.BlockRows * ld));
            (_tokens, Stride, RowsPadded) = (n, ld, rows);
            if (_scratchOnly)
            {
                return;
            }

            _layer = new AlignedBuffer(matrix);
            _product = new AlignedBuffer(matrix);
            _spare = new AlignedBuffer(matrix);
            _extra = new AlignedBuffer(matrix);
            _vector = new AlignedBuffer(ld);
            _next = new AlignedBuffer(ld);
            _fused = new AlignedBuffer(ld);
            _rowSums = new float[n];
        }

        /// <summary>P = Ã_to ⋯ Ã_from one whole layer at a time (the discard path: its threshold needs the whole
        /// fused layer); returns a pointer into this lane's buffers.</summary>
        public float* Chain(float* stack, AttentionShape shape, int item, RolloutOptions options, int from, int to)
        {
            BuildLayer(stack, shape, from, item, options, _product!.Pointer);
            for (int l = from + 1; l <= to; l++)
            {
                BuildLayer(stack, shape, l, item, options, _layer!.Pointer);
                MatrixMultiply.Invoke(_width, _layer.Pointer, _product.Pointer, _spare!.Pointer, _tokens, Stride, Stride, 0, RowsPadded);
                (_product, _spare) = (_spare, _product);
            }

            return _product.Pointer;
        }

        /// <summary>r = e_q · Ã_end ⋯ Ã_start; returns a pointer to tokens floats in this lane's buffers.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public float* Row(float* stack, AttentionShape shape, int item, RolloutOptions options)
        {
            int n = shape.Tokens, heads = shape.Heads;
            float alpha = options.ResidualAlpha;
            float scale = options.Fusion == HeadFusion.Mean ? 1f / heads : 1f;
            bool mean = options.Fusion == HeadFusion.Mean;
            float* r = _vector!.Pointer, next = _next!.Pointer, f = _fused!.Pointer;
            new Span<float>(r, n).Clear();
            r[options.QueryToken] = 1f;
            int start = options.StartLayer;
            for (int l = options.ResolveEndLayer(shape.Layers); l >= start; l--)
            {
                new Span<float>(next, n).Clear();
                if (options.DiscardRatio > 0f)
                {
                    float* m = _layer!.Pointer;
                    BuildLayer(stack, shape, l, item, options, m);
                    for (int k = 0; k < n; k++)
                    {
                        if (r[k] != 0f)
                        {
                            MultiplyAdd.Invoke(_width, m + ((long)k * Stride), r[k], next, n);
                        }
                    }
                }
                else
                {
                    // r·Ã = Σ_k r_k · rownorm(α·scale·f_k + (1 − α)·e_k): check row k (pass 1), then fuse it from L1
                    // straight into the next vector with its normalisation folded into the factor (pass 2). For max
                    // and min the fused row's sum is needed first, so it is fused into a scratch row. The fused
                    // matrix is never written; every attention value is read from memory once.
                    float* rowBase = stack + shape.OffsetOf(l, item);
                    float* sums = options.InputsAreSoftmax ? null : _sums!.Pointer;
                    for (int k = 0; k < n; k++)
                    {
                        if (mean)
                        {
                            // The whole layer in one kernel call; it stops at a row that needs the checks' slow path
                            // (which throws, or passes a harmless −0) or the identity-row case, taken below.
                            k = FuseHeads.MeanRowStep(_width, rowBase, shape.MatrixLength, heads, n, k, r, next, alpha, sums, RowSumTolerance);
                            if (k >= n)
                            {
                                break;
                            }
                        }

                        float* source = rowBase + ((long)k * n);
                        float sum = CheckRow(source, shape.MatrixLength, heads, n, l, item, 0, k, !options.InputsAreSoftmax);
                        float rk = r[k];
                        if (rk == 0f)
                        {
                            continue;
                        }

                        if (!mean)
                        {
                            FuseHeads.Fuse(options.Fusion, _width, source, shape.MatrixLength, heads, n, 1f, f, accumulate: false);
                            sum = RowSum.Invoke(_width, f, n);
                        }

                        float total = (alpha * scale * sum) + (1f - alpha);
                        if (!(total > 0f))
                        {
                            next[k] += rk;
                            continue;
                        }

                        float factor = rk * alpha * scale / total;
                        if (mean)
                        {
                            FuseHeads.Fuse(HeadFusion.Mean, _width, source, shape.MatrixLength, heads, n, factor, next, accumulate: true);
                        }
                        else
                        {
                            MultiplyAdd.Invoke(_width, f, factor, next, n);
                        }

                        next[k] += rk * (1f - alpha) / total;
                    }
                }

                float* swap = r;
                r = next;
                next = swap;
            }

            return r;
        }

        /// <summary>
        /// Checks one row of <paramref name="heads"/> heads (NaN, infinity, negative values, and each head's row sum
        /// when asked) and returns the sum of the heads' row sums.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public float CheckRow(float* source, long headStride, int heads, int n, int layer, int item, int firstHead, int row, bool checkRowSums)
        {
            float* sums = checkRowSums ? _sums!.Pointer : null;
            float total = FuseHeads.SumHeads(_width, source, headStride, heads, n, sums, out bool signBits);
            if (!float.IsFinite(total) || signBits)
            {
                CheckValues(source, headStride, heads, n, layer, item, firstHead, row, signBits);
            }

            if (checkRowSums)
            {
                bool off = false;
                for (int h = 0; h < heads; h++)
                {
                    off |= MathF.Abs(sums[h] - 1f) > RowSumTolerance;
                }

                if (off)
                {
                    ThrowFirstRowSum(layer, item, firstHead, row, heads);
                }
            }

            return total;
        }

        // Rare: the total is not finite, or a sign bit is set (a negative value, or a harmless −0). Names the culprit.
        private static void CheckValues(float* source, long headStride, int heads, int n, int layer, int item, int firstHead, int row, bool signBits)
        {
            float total = 0f;
            for (int h = 0; h < heads; h++)
            {
                float sum = 0f;
                for (int j = 0; j < n; j++)
                {
                    sum += source[(h * headStride) + j];
                }

                if (!float.IsFinite(sum))
                {
                    AttentionInputErrors.ThrowNotFinite(layer, item, firstHead + h, row);
                }

                total += sum;
            }

            if (signBits)
            {
                CheckNotNegative(source, headStride, heads, n, layer, item, firstHead, row);
            }

            if (!float.IsFinite(total))
            {
                // Every head's sum is finite but their total overflows: no attention row holds such values.
                AttentionInputErrors.ThrowNotFinite(layer, item, firstHead, row);
            }
        }

        private void ThrowFirstRowSum(int layer, int item, int firstHead, int row, int heads)
        {
            float* sums = _sums!.Pointer;
            for (int h = 0; h < heads; h++)
            {
                if (MathF.Abs(sums[h] - 1f) > RowSumTolerance)
                {
                    AttentionInputErrors.ThrowRowSum(layer, item, firstHead + h, row, sums[h]);
                }
            }
        }

        /// <summary>
        /// Rows [<paramref name="from"/>, <paramref name="to"/>) of Ã_l = rownorm(α·fuse(A_l) + (1 − α)·I), checked,
        /// written to <paramref name="destination"/> (row <paramref name="from"/> first, stride <see cref="Stride"/>).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void FuseRows(float* stack, AttentionShape shape, int layer, int item, RolloutOptions options, int from, int to, float* destination)
        {
            int n = shape.Tokens, heads = shape.Heads;
            float alpha = options.ResidualAlpha;
            bool mean = options.Fusion == HeadFusion.Mean;
            float scale = mean ? 1f / heads : 1f;
            float* rowBase = stack + shape.OffsetOf(layer, item);
            for (int q = from; q < to; q++)
            {
                float* source = rowBase + ((long)q * n);
                float* dst = destination + ((long)(q - from) * Stride);
                float sum = CheckRow(source, shape.MatrixLength, heads, n, layer, item, 0, q, !options.InputsAreSoftmax);
                float total = (alpha * scale * sum) + (1f - alpha);
                if (mean && total > 0f)
                {
                    // The normalisation is known before the fusion: one pass writes the finished row.
                    FuseHeads.Fuse(HeadFusion.Mean, _width, source, shape.MatrixLength, heads, n, alpha * scale / total, dst, accumulate: false);
                    dst[q] += (1f - alpha) / total;
                }
                else
                {
                    FuseHeads.Fuse(options.Fusion, _width, source, shape.MatrixLength, heads, n, 1f, dst, accumulate: false);
                    ResidualNormalize.Invoke(_width, dst, n, q, mean ? sum : RowSum.Invoke(_width, dst, n), alpha, scale);
                }
            }
        }

        /// <summary>Writes Ã_l = rownorm(α·fuse(A_l) + (1 − α)·I), after the discard, into a padded matrix.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void BuildLayer(float* stack, AttentionShape shape, int layer, int item, RolloutOptions options, float* destination)
        {
            int n = shape.Tokens, ld = Stride;
            if (!(options.DiscardRatio > 0f))
            {
                FuseRows(stack, shape, layer, item, options, 0, n, destination);
                return;
            }

            float alpha = options.ResidualAlpha;
            bool mean = options.Fusion == HeadFusion.Mean;
            float scale = mean ? 1f / shape.Heads : 1f;
            float* rowBase = stack + shape.OffsetOf(layer, item);
            for (int q = 0; q < n; q++)
            {
                float* source = rowBase + ((long)q * n);
                float* dst = destination + ((long)q * ld);
                float sum = CheckRow(source, shape.MatrixLength, shape.Heads, n, layer, item, 0, q, !options.InputsAreSoftmax);
                FuseHeads.Fuse(options.Fusion, _width, source, shape.MatrixLength, shape.Heads, n, 1f, dst, accumulate: false);
                _rowSums[q] = mean ? sum : RowSum.Invoke(_width, dst, n);
            }

            int p = options.PrefixTokens;
            int candidates = DiscardLowest.ScratchLength(n, p);
            if (_select.Length < candidates)
            {
                _select = new uint[candidates];
            }

            DiscardLowest.Invoke(destination, n, ld, p, options.DiscardRatio, _histogram, _select);
            for (int q = 0; q < n; q++)
            {
                float* dst = destination + ((long)q * ld);
                float sum = q < p ? _rowSums[q] : RowSum.Invoke(_width, dst, n);
                ResidualNormalize.Invoke(_width, dst, n, q, sum, alpha, scale);
            }
        }

        private static void CheckNotNegative(float* source, long headStride, int heads, int n, int layer, int item, int firstHead, int row)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int j = 0; j < n; j++)
                {
                    float value = source[(h * headStride) + j];
                    if (value < 0f)
                    {
                        AttentionInputErrors.ThrowNegative(value, layer, item, firstHead + h, row, "rollout");
                    }
                }
            }
        }
    }
}
