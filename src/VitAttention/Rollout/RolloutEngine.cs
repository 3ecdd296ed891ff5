using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using VitAttention.Inference;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Rollout;

/// <summary>
/// Attention rollout (Abnar &amp; Zuidema 2020) over an attention stack <c>[layer, batch, head, tokens, tokens]</c>,
/// with SIMD kernels and a reusable workspace: after the first call for a shape, the span methods allocate nothing.
/// Each layer becomes Ã_l = rownorm(α·fuse_h(A_l,h) + (1 − α)·I) (after the optional discard), and the rollout is
/// R = Ã_end ⋯ Ã_start.
/// </summary>
/// <remarks>
/// <para>Thread-safety: an instance holds mutable scratch buffers and is <b>not</b> thread-safe. Use one engine per
/// thread (they are cheap: the buffers grow to the largest shape seen, ~4 · tokens² floats).</para>
/// <para>Input checks happen at this boundary, fused into the single read of the input: lengths and indices
/// (<see cref="ArgumentException"/>), and for every attention row read: NaN or infinity, negative values, and
/// (unless <see cref="RolloutOptions.InputsAreSoftmax"/>) a row sum further than <see cref="RowSumTolerance"/>
/// from 1 (<see cref="ArgumentException"/> naming layer, item, head and row).</para>
/// </remarks>
public sealed unsafe class RolloutEngine
{
    /// <summary>How far from 1 a row of attention probabilities may sum (absolute) before it is rejected.</summary>
    public const float RowSumTolerance = 1e-3f;

    private readonly SimdWidth _width;
    private readonly Lane _main;
    private readonly MatrixJob _matrix;

    /// <summary>Creates an engine that runs at the widest vector width this machine accelerates.</summary>
    public RolloutEngine()
        : this(RolloutKernelFactory.Best)
    {
    }

    /// <summary>Creates an engine forced to one vector width (tests run every width in turn).</summary>
    internal RolloutEngine(SimdWidth width)
    {
        _width = width;
        _main = new Lane(width);
        _matrix = new MatrixJob(_main);
    }

    /// <summary>The vector width the kernels run at.</summary>
    internal SimdWidth Width => _width;

    /// <summary>
    /// The full rollout matrix R = Ã_end ⋯ Ã_start of one batch item, written row-major to
    /// <paramref name="destination"/> (<c>[tokens, tokens]</c>: row q is what token q gathers from every input token).
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="options">Fusion, α, discard, layer range, parallelism; <see cref="RolloutOptions.QueryToken"/> is not used.</param>
    /// <param name="destination">tokens² floats.</param>
    /// <exception cref="ArgumentException">A length, index or option is out of range, or the attention holds NaN,
    /// infinity, negative values or rows that do not sum to 1.</exception>
    public void RolloutMatrix(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, Span<float> destination)
    {
        CheckCall(stack, shape, item, options);
        int n = shape.Tokens;
        CheckDestination(destination, shape.MatrixLength, "tokens² (the rollout matrix)");
        int start = options.StartLayer, end = options.ResolveEndLayer(shape.Layers);

        fixed (float* stackPtr = stack)
        {
            _main.Prepare(shape);
            float* result = options.DiscardRatio > 0f
                ? _main.Chain(stackPtr, shape, item, options, start, end)
                : _matrix.Run(stackPtr, shape, item, options, start, end);

            int ld = _main.Stride;
            for (int i = 0; i < n; i++)
            {
                new ReadOnlySpan<float>(result + ((long)i * ld), n).CopyTo(destination.Slice(i * n, n));
            }
        }
    }

    /// <summary>
    /// One row of the rollout, r = e_q · Ã_end · Ã_end−1 ⋯ Ã_start for q = <see cref="RolloutOptions.QueryToken"/>,
    /// computed as vector × matrix products (what an overlay needs; ~tokens× less work than the matrix). Without
    /// discard the fused matrices are never written: each row of each layer is fused across heads in L1 and added
    /// into the next vector at once (r·Ã = Σ_k r_k·Ã[k, :]; for mean fusion this is mean_h(r·A_h) with the row
    /// normalisation folded in), so every attention value is read exactly once.
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="options">Fusion, α, discard, layer range and query token.</param>
    /// <param name="destination">tokens floats: the query token's row over all tokens, prefix tokens included.</param>
    /// <exception cref="ArgumentException">A length, index or option is out of range, or the attention holds NaN,
    /// infinity, negative values or rows that do not sum to 1.</exception>
    public void RolloutRow(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, Span<float> destination)
    {
        CheckCall(stack, shape, item, options);
        CheckDestination(destination, shape.Tokens, "tokens (one rollout row)");
        _main.Prepare(shape);
        fixed (float* stackPtr = stack)
        {
            float* row = _main.Row(stackPtr, shape, item, options);
            new ReadOnlySpan<float>(row, shape.Tokens).CopyTo(destination);
        }
    }

    /// <summary>
    /// One layer's attention of a query token to every token, without rollout: the mean over heads, or one head's
    /// row. Scalar equivalent <c>dst[j] = mean_h A[layer, item, h, query, j]</c>.
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="layer">Zero-based layer.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="query">The query token (0 = CLS).</param>
    /// <param name="head">One head, or null for the mean over heads.</param>
    /// <param name="destination">tokens floats.</param>
    /// <param name="inputsAreSoftmax">Skip the row-sum check (NaN, infinity and negatives are still rejected).</param>
    /// <exception cref="ArgumentException">A length or index is out of range, or the rows read hold NaN,
    /// infinity, negative values or do not sum to 1.</exception>
    public void LayerRow(
        ReadOnlySpan<float> stack, AttentionShape shape, int layer, int item, int query, int? head, Span<float> destination,
        bool inputsAreSoftmax = false)
    {
        CheckStack(stack, shape, item);
        CheckIndex(layer, shape.Layers, nameof(layer), "layers");
        CheckIndex(query, shape.Tokens, nameof(query), "tokens");
        if (head is int h)
        {
            CheckIndex(h, shape.Heads, nameof(head), "heads");
        }

        CheckDestination(destination, shape.Tokens, "tokens (one attention row)");
        _main.Prepare(shape);
        int n = shape.Tokens;
        int heads = head is null ? shape.Heads : 1;
        long offset = shape.OffsetOf(layer, item, head ?? 0) + ((long)query * n);
        fixed (float* stackPtr = stack)
        fixed (float* dst = destination)
        {
            float* source = stackPtr + offset;
            _main.CheckRow(source, shape.MatrixLength, heads, n, layer, item, head ?? 0, query, !inputsAreSoftmax);
            FuseHeads.Fuse(HeadFusion.Mean, _width, source, shape.MatrixLength, heads, n, 1f / heads, dst, accumulate: false);
        }
    }

    /// <summary>
    /// The rollout row of <see cref="RolloutOptions.QueryToken"/> over the patch grid (prefix tokens dropped,
    /// row-major): the classic rollout overlay. Allocates the returned map.
    /// </summary>
    /// <param name="stack">The attention stack.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="gridHeight">Patch rows (14 for ViT-B/16 at 224 px).</param>
    /// <param name="gridWidth">Patch columns.</param>
    /// <param name="options">Rollout settings; null for <see cref="RolloutOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">The grid does not match tokens − prefix tokens, or see <see cref="RolloutRow"/>.</exception>
    public AttentionMap RolloutMap(AttentionStack stack, int item, int gridHeight, int gridWidth, RolloutOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        options ??= RolloutOptions.Default;
        AttentionShape shape = stack.Shape;
        CheckGrid(shape, gridHeight, gridWidth, options.PrefixTokens);
        Span<float> row = shape.Tokens <= 1024 ? stackalloc float[shape.Tokens] : new float[shape.Tokens];
        RolloutRow(stack.Data, shape, item, options, row);
        return new AttentionMap(gridHeight, gridWidth, row[options.PrefixTokens..]);
    }

    /// <summary>
    /// One layer's attention of <paramref name="query"/> (default CLS) to the patches, head-mean or one head, over
    /// the patch grid (prefix tokens dropped, row-major). Allocates the returned map.
    /// </summary>
    /// <param name="stack">The attention stack.</param>
    /// <param name="layer">Zero-based layer.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="gridHeight">Patch rows.</param>
    /// <param name="gridWidth">Patch columns.</param>
    /// <param name="query">The query token; default 0 (CLS).</param>
    /// <param name="head">One head, or null (default) for the mean over heads.</param>
    /// <param name="prefixTokens">Leading non-patch tokens to drop; default 1.</param>
    /// <exception cref="ArgumentException">The grid does not match tokens − prefix tokens, or see <see cref="LayerRow"/>.</exception>
    public AttentionMap LayerMap(
        AttentionStack stack, int layer, int item, int gridHeight, int gridWidth, int query = 0, int? head = null, int prefixTokens = 1)
    {
        ArgumentNullException.ThrowIfNull(stack);
        AttentionShape shape = stack.Shape;
        CheckGrid(shape, gridHeight, gridWidth, prefixTokens);
        Span<float> row = shape.Tokens <= 1024 ? stackalloc float[shape.Tokens] : new float[shape.Tokens];
        LayerRow(stack.Data, shape, layer, item, query, head, row);
        return new AttentionMap(gridHeight, gridWidth, row[prefixTokens..]);
    }

    private static void CheckGrid(AttentionShape shape, int gridHeight, int gridWidth, int prefixTokens)
    {
        if (prefixTokens < 0 || gridHeight <= 0 || gridWidth <= 0 || (long)gridHeight * gridWidth + prefixTokens != shape.Tokens)
        {
            throw new ArgumentException(
                $"A {gridHeight}×{gridWidth} patch grid plus {prefixTokens} prefix token(s) does not match {shape.Tokens} tokens: " +
                "pass the model's grid (image size / patch size per side) and its prefix-token count.",
                nameof(gridHeight));
        }
    }

    private static void CheckCall(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckStack(stack, shape, item);
        options.Validate(shape);
    }

    private static void CheckStack(ReadOnlySpan<float> stack, AttentionShape shape, int item)
    {
        shape.Validate();
        if (stack.Length != shape.TotalLength)
        {
            throw new ArgumentException(
                $"The attention stack has {stack.Length} floats but shape {shape} needs {shape.TotalLength} " +
                "([layer, batch, head, tokens, tokens]).", nameof(stack));
        }

        CheckIndex(item, shape.Batch, nameof(item), "batch items");
    }

    private static void CheckIndex(int value, int count, string name, string what)
    {
        if (value < 0 || value >= count)
        {
            throw new ArgumentException($"{name} must be in [0, {count - 1}] ({count} {what}), got {value}.", name);
        }
    }

    private static void CheckDestination(Span<float> destination, long length, string what)
    {
        if (destination.Length != length)
        {
            throw new ArgumentException($"destination must hold {length} floats = {what}, got {destination.Length}.", nameof(destination));
        }
    }

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
                    ThrowNotFinite(layer, item, firstHead + h, row);
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
                ThrowNotFinite(layer, item, firstHead, row);
            }
        }

        private void ThrowFirstRowSum(int layer, int item, int firstHead, int row, int heads)
        {
            float* sums = _sums!.Pointer;
            for (int h = 0; h < heads; h++)
            {
                if (MathF.Abs(sums[h] - 1f) > RowSumTolerance)
                {
                    ThrowRowSum(layer, item, firstHead + h, row, sums[h]);
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
            DiscardLowest.Invoke(destination, n, ld, p, options.DiscardRatio, _histogram);
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
                        ThrowNegative(value, layer, item, firstHead + h, row);
                    }
                }
            }
        }

        [DoesNotReturn]
        private static void ThrowNotFinite(int layer, int item, int head, int row) =>
            throw new ArgumentException(
                $"The attention stack holds NaN or infinity at layer {layer}, item {item}, head {head}, row {row}: " +
                "pass attention probabilities (softmax outputs) from a healthy forward pass.", "stack");

        [DoesNotReturn]
        private static void ThrowNegative(float value, int layer, int item, int head, int row) =>
            throw new ArgumentException(
                $"The attention stack holds a negative value ({value}) at layer {layer}, item {item}, head {head}, row {row}: " +
                "rollout needs attention probabilities (softmax outputs), not logits or scores.", "stack");

        [DoesNotReturn]
        private static void ThrowRowSum(int layer, int item, int head, int row, float sum) =>
            throw new ArgumentException(
                $"The attention row at layer {layer}, item {item}, head {head}, row {row} sums to {sum}, not 1 (tolerance {RowSumTolerance}): " +
                "pass softmax outputs over the last axis in [layer, batch, head, query, key] order, or set " +
                "RolloutOptions.InputsAreSoftmax if the rows are known to be probabilities.", "stack");
    }

    /// <summary>
    /// The full rollout matrix without discard, in blocks of <see cref="BlockRows"/> rows. A chain of layers is
    /// worked in phases: phase 0 writes Ã_first into an output buffer; phase p computes P_p = Ã_l · P_p−1, each block
    /// fusing its rows of Ã_l into its thread's scratch (memory-bound: the heads' rows stream from RAM) and at once
    /// multiplying them by P_p−1 (compute-bound, P_p−1 in cache).
    /// </summary>
    /// <remarks>
    /// <para>One thread works one chain. With a helper (a thread-pool work item, when MaxDegreeOfParallelism and the
    /// machine's processors are both at least 2) the layers are split into a lower and an upper chain,
    /// then R = P_upper · P_lower as a third piece of work: the same number of products, and each thread's running
    /// product stays in its own core's cache instead of half of it crossing to the other core every layer (that
    /// made shared row blocks 25% slower per product here).</para>
    /// <para>Work is handed out as tickets (phase · blocks + block) from a counter per piece: the caller prefers
    /// the lower chain, helpers the upper, and a thread whose piece has no tickets left takes the other's, then the
    /// final product's, so no thread idles on a fixed share. A block fuses before it waits: only its multiplication
    /// needs the whole of P_p−1, so it waits until every block of the earlier phases of its chain is done. P_p and
    /// P_p−2 share a buffer; that is safe because a block writes P_p only after that wait, when nobody reads P_p−2
    /// any more. The final product waits for both chains and writes the lower chain's other buffer.</para>
    /// <para>A helper that has not started by the time the work is done is cancelled (the caller never waits for
    /// the pool to schedule one; it takes the helper's tickets itself), and a stale work item from an earlier call
    /// that starts later either serves the current call or returns at once. An input error in any thread stops the
    /// others and is rethrown on the calling thread. Waits spin, then yield; nothing allocates after the first call
    /// for a shape.</para>
    /// </remarks>
    private sealed class MatrixJob
    {
        /// <summary>Rows per block: two micro-kernel row tiles.</summary>
        public const int BlockRows = 2 * MatrixMultiply.RowBlock;

        /// <summary>Threads a call uses at most: one per chain. (More would share a chain's blocks across cores.)</summary>
        private const int MaxThreads = 2;

        private readonly Lane _owner;
        private readonly Piece[] _pieces = [new(), new(), new()];   // lower chain, upper chain, final product
        private Helper[] _helpers = [];
        private int _pieceCount;

        private float* _stack;
        private AttentionShape _shape;
        private RolloutOptions? _options;
        private int _item, _blocks;
        private volatile bool _failed;
        private ExceptionDispatchInfo? _error;

        public MatrixJob(Lane owner) => _owner = owner;

        /// <summary>R = Ã_end ⋯ Ã_start; returns a pointer into the owner lane's buffers.</summary>
        public float* Run(float* stack, AttentionShape shape, int item, RolloutOptions options, int start, int end)
        {
            int phases = end - start + 1;
            int helpers = Math.Min(Math.Min(options.MaxDegreeOfParallelism, Environment.ProcessorCount), MaxThreads) - 1;
            if (phases < 4 || shape.Tokens < 2 * BlockRows)
            {
                helpers = 0;   // too little work to share
            }

            _stack = stack;
            (_shape, _item, _options, _failed, _error) = (shape, item, options, false, null);
            _blocks = (_owner.RowsPadded + BlockRows - 1) / BlockRows;
            Lane o = _owner;
            if (helpers == 0)
            {
                _pieces[0].SetChain(start, phases, _blocks, o.Matrix(0), o.Matrix(1));
                _pieceCount = 1;
            }
            else
            {
                int lower = phases / 2;
                Piece low = _pieces[0], high = _pieces[1];
                low.SetChain(start, lower, _blocks, o.Matrix(0), o.Matrix(1));
                high.SetChain(start + lower, phases - lower, _blocks, o.Matrix(2), o.Matrix(3));
                _pieces[2].SetProduct(high.Result, low.Result, low.Output(lower), _blocks);
                _pieceCount = 3;
            }

            EnsureHelpers(helpers);
            for (int i = 0; i < helpers; i++)
            {
                _helpers[i].Lane.Prepare(shape);
                _helpers[i].Start();
            }

            Work(_owner, preferred: 0);
            for (int i = 0; i < helpers; i++)
            {
                _helpers[i].Join();
            }

            _stack = null;
            _options = null;
            _error?.Throw();
            return _pieces[_pieceCount - 1].Result;
        }

        private void EnsureHelpers(int count)
        {
            if (count <= _helpers.Length)
            {
                return;
            }

            int had = _helpers.Length;
            Array.Resize(ref _helpers, count);
            for (int i = had; i < count; i++)
            {
                _helpers[i] = new Helper(this, new Lane(_owner.Width, scratchOnly: true));
            }
        }

        /// <summary>Claims and runs blocks until none are left or a thread has failed.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Work(Lane lane, int preferred)
        {
            try
            {
                int n = _shape.Tokens, ld = _owner.Stride, rows = _owner.RowsPadded;
                while (!_failed)
                {
                    if (!Claim(preferred, out Piece? piece, out int ticket))
                    {
                        return;
                    }

                    int phase = ticket / _blocks, block = ticket - (phase * _blocks);
                    int from = block * BlockRows, to = Math.Min(from + BlockRows, rows), real = Math.Min(to, n);
                    if (piece.IsProduct)
                    {
                        if (!WaitFor(_pieces[0], _pieces[0].Tickets) || !WaitFor(_pieces[1], _pieces[1].Tickets))
                        {
                            return;
                        }

                        MatrixMultiply.Invoke(lane.Width, piece.Left, piece.Right, piece.Even, n, ld, ld, from, to);
                    }
                    else if (phase == 0)
                    {
                        lane.FuseRows(_stack, _shape, piece.FirstLayer, _item, _options!, from, real, piece.Even + ((long)from * ld));
                    }
                    else
                    {
                        float* scratch = lane.Block;
                        lane.FuseRows(_stack, _shape, piece.FirstLayer + phase, _item, _options!, from, real, scratch);
                        if (real < to)
                        {
                            // The padding rows of the last block multiply into P's padding rows: keep them zero.
                            new Span<float>(scratch + ((long)(real - from) * ld), (to - real) * ld).Clear();
                        }

                        if (!WaitFor(piece, phase * _blocks))
                        {
                            return;
                        }

                        // The scratch holds rows [from, to): shift it so that row i of "A" is scratch row i − from.
                        MatrixMultiply.Invoke(
                            lane.Width, scratch - ((long)from * ld), piece.Output(phase - 1), piece.Output(phase), n, ld, ld, from, to,
                            NextBlock(piece, phase, to));
                    }

                    Interlocked.Increment(ref piece.Done);
                }
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
                _failed = true;
            }
        }

        // What this thread will most likely fuse next: the chain's next block of rows, in every head.
        private PrefetchPlan NextBlock(Piece piece, int phase, int to)
        {
            int n = _shape.Tokens, layer = piece.FirstLayer + phase, first = to;
            if (first >= n)
            {
                if (phase + 1 >= piece.Phases)
                {
                    return default;
                }

                (layer, first) = (layer + 1, 0);
            }

            int rows = Math.Min(BlockRows, n - first);
            return new PrefetchPlan(
                (byte*)(_stack + _shape.OffsetOf(layer, _item) + ((long)first * n)), _shape.MatrixLength * sizeof(float), rows * n * sizeof(float), _shape.Heads);
        }

        // The preferred chain first, then the other chain, then the final product.
        private bool Claim(int preferred, [NotNullWhen(true)] out Piece? piece, out int ticket)
        {
            for (int k = 0; k < _pieceCount; k++)
            {
                piece = _pieces[k < 2 && _pieceCount > 1 ? (preferred + k) % 2 : k];
                if (Volatile.Read(ref piece.Ticket) < piece.Tickets)
                {
                    ticket = Interlocked.Increment(ref piece.Ticket) - 1;
                    if (ticket < piece.Tickets)
                    {
                        return true;
                    }
                }
            }

            (piece, ticket) = (null, -1);
            return false;
        }

        private bool WaitFor(Piece piece, int done)
        {
            SpinWait spin = default;
            while (Volatile.Read(ref piece.Done) < done)
            {
                if (_failed)
                {
                    return false;
                }

                spin.SpinOnce(sleep1Threshold: -1);
            }

            return true;
        }

        /// <summary>A piece of work handed out in tickets: a chain of layers, or the final product of two chains.</summary>
        private sealed class Piece
        {
            public int Ticket, Done;
            private float* _odd;

            public int FirstLayer { get; private set; }

            public int Phases { get; private set; }

            public int Tickets { get; private set; }

            public bool IsProduct { get; private set; }

            /// <summary>Output of even phases (the product's output).</summary>
            public float* Even { get; private set; }

            public float* Left { get; private set; }

            public float* Right { get; private set; }

            public float* Result => Output(Phases - 1);

            public float* Output(int phase) => (phase & 1) == 0 ? Even : _odd;

            public void SetChain(int firstLayer, int phases, int blocks, float* even, float* odd)
            {
                (FirstLayer, Phases, Tickets, IsProduct, Ticket, Done) = (firstLayer, phases, phases * blocks, false, 0, 0);
                Even = even;
                _odd = odd;
            }

            public void SetProduct(float* left, float* right, float* output, int blocks)
            {
                (FirstLayer, Phases, Tickets, IsProduct, Ticket, Done) = (-1, 1, blocks, true, 0, 0);
                Left = left;
                Right = right;
                Even = output;
            }
        }

        /// <summary>A thread-pool helper: its own lane, and a state that makes start, cancel and join race-free.</summary>
        private sealed class Helper(MatrixJob job, Lane lane) : IThreadPoolWorkItem
        {
            private const int Idle = 0, Queued = 1, Running = 2, Finished = 3;
            private int _state;

            public Lane Lane { get; } = lane;

            public void Start()
            {
                Volatile.Write(ref _state, Queued);
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }

            public void Execute()
            {
                // Only a work item that finds the helper queued runs; a stale one (cancelled earlier) returns.
                if (Interlocked.CompareExchange(ref _state, Running, Queued) != Queued)
                {
                    return;
                }

                try
                {
                    job.Work(Lane, preferred: 1);
                }
                finally
                {
                    Volatile.Write(ref _state, Finished);
                }
            }

            public void Join()
            {
                if (Interlocked.CompareExchange(ref _state, Idle, Queued) == Queued)
                {
                    return;   // never started: cancelled
                }

                SpinWait spin = default;
                while (Volatile.Read(ref _state) != Finished)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                Volatile.Write(ref _state, Idle);
            }
        }
    }
}
