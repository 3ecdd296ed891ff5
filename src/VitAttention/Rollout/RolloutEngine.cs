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
    private Lane? _helper;

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
            float* result;
            if (options.MaxDegreeOfParallelism > 1 && end - start >= 3)
            {
                // Split the chain: a pool thread builds P1 = Ã_mid ⋯ Ã_start while this one builds P2 = Ã_end ⋯ Ã_mid+1;
                // then R = P2 · P1. Same number of matrix products, two threads' memory bandwidth for the fusion.
                int mid = start + ((end - start) / 2);
                Lane helper = _helper ??= new Lane(_width);
                helper.Prepare(shape);
                _main.Prepare(shape);
                helper.StartChain(stackPtr, shape, item, options, start, mid);
                float* upper;
                try
                {
                    upper = _main.Chain(stackPtr, shape, item, options, mid + 1, end);
                }
                finally
                {
                    helper.WaitChain();
                }

                float* lower = helper.ChainResult;
                result = _main.Multiply(upper, lower, n);
            }
            else
            {
                _main.Prepare(shape);
                result = _main.Chain(stackPtr, shape, item, options, start, end);
            }

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
            _main.FuseAndCheck(stackPtr + offset, shape.MatrixLength, heads, n, dst, HeadFusion.Mean, layer, item, head ?? 0, query, !inputsAreSoftmax);
            if (heads > 1)
            {
                Scale.Invoke(_width, dst, n, 1f / heads);
            }
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
    /// micro-kernel's row block, padding kept zero) and the per-layer steps. A second lane serves the helper thread.
    /// </summary>
    private sealed class Lane : IThreadPoolWorkItem
    {
        private readonly SimdWidth _width;
        // Completion of the pool half of a split chain. A monitor on a preallocated object, not ManualResetEventSlim:
        // the latter allocates its lock object and kernel event the first time a wait has to block, which happens
        // only under load, so "0 B after warm-up" would fail exactly when the machine is busy.
        private readonly object _gate = new();
        private bool _finished;
        private AlignedBuffer? _layer;    // Ã_l, [rows, ld]
        private AlignedBuffer? _product;  // running product, [rows, ld]
        private AlignedBuffer? _spare;    // next product, [rows, ld]
        private AlignedBuffer? _vector;   // running row, [ld]
        private AlignedBuffer? _next;     // next row, [ld]
        private AlignedBuffer? _fused;    // one fused row, [ld]
        private readonly int[] _histogram = new int[DiscardLowest.HistogramLength]; // discard selection
        private float[] _sums = [];       // per head row sums, [heads]
        private float[] _rowSums = [];    // fused row sums, [tokens]
        private int _tokens, _heads;

        // The chain the helper thread runs (set by StartChain, read by Execute).
        private float* _jobStack;
        private AttentionShape _jobShape;
        private int _jobItem, _jobFrom, _jobTo;
        private RolloutOptions? _jobOptions;
        private ExceptionDispatchInfo? _jobError;

        public Lane(SimdWidth width) => _width = width;

        public int Stride { get; private set; }

        public float* ChainResult { get; private set; }

        /// <summary>Sizes the buffers for a shape; allocates only when the shape grows.</summary>
        public void Prepare(AttentionShape shape)
        {
            if (shape.Heads > _sums.Length)
            {
                _sums = new float[shape.Heads];
            }

            _heads = shape.Heads;
            if (shape.Tokens == _tokens)
            {
                return;
            }

            int n = shape.Tokens;
            int ld = checked((n + MatrixMultiply.ColumnAlignment - 1) / MatrixMultiply.ColumnAlignment * MatrixMultiply.ColumnAlignment);
            int rows = checked((n + MatrixMultiply.RowBlock - 1) / MatrixMultiply.RowBlock * MatrixMultiply.RowBlock);
            int matrix = checked(rows * ld);
            _layer = new AlignedBuffer(matrix);
            _product = new AlignedBuffer(matrix);
            _spare = new AlignedBuffer(matrix);
            _vector = new AlignedBuffer(ld);
            _next = new AlignedBuffer(ld);
            _fused = new AlignedBuffer(ld);
            _rowSums = new float[n];
            _tokens = n;
            Stride = ld;
        }

        /// <summary>P = Ã_to ⋯ Ã_from; returns a pointer into this lane's buffers.</summary>
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

        private int RowsPadded => _layer!.Length / Stride;

        /// <summary>upper · lower into this lane's spare buffer (neither argument may be it).</summary>
        public float* Multiply(float* upper, float* lower, int n)
        {
            MatrixMultiply.Invoke(_width, upper, lower, _spare!.Pointer, n, Stride, Stride, 0, RowsPadded);
            return _spare.Pointer;
        }

        public void StartChain(float* stack, AttentionShape shape, int item, RolloutOptions options, int from, int to)
        {
            _jobStack = stack;
            (_jobShape, _jobItem, _jobOptions, _jobFrom, _jobTo, _jobError) = (shape, item, options, from, to, null);
            _finished = false;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        public void Execute()
        {
            try
            {
                ChainResult = Chain(_jobStack, _jobShape, _jobItem, _jobOptions!, _jobFrom, _jobTo);
            }
            catch (Exception ex)
            {
                _jobError = ExceptionDispatchInfo.Capture(ex);
            }
            finally
            {
                lock (_gate)
                {
                    _finished = true;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        public void WaitChain()
        {
            lock (_gate)
            {
                while (!_finished)
                {
                    Monitor.Wait(_gate);
                }
            }

            _jobStack = null;
            _jobOptions = null;
            _jobError?.Throw();
        }

        /// <summary>r = e_q · Ã_end ⋯ Ã_start; returns a pointer to tokens floats in this lane's buffers.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public float* Row(float* stack, AttentionShape shape, int item, RolloutOptions options)
        {
            int n = shape.Tokens;
            float alpha = options.ResidualAlpha;
            float scale = options.Fusion == HeadFusion.Mean ? 1f / shape.Heads : 1f;
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
                    // r·Ã = Σ_k r_k · rownorm(α·scale·f_k + (1 − α)·e_k): fuse row k in L1, fold its normalisation
                    // into the coefficient, add. The fused matrix is never written.
                    float* rowBase = stack + shape.OffsetOf(l, item);
                    for (int k = 0; k < n; k++)
                    {
                        float sum = FuseAndCheck(rowBase + ((long)k * n), shape.MatrixLength, shape.Heads, n, f, options.Fusion, l, item, 0, k, !options.InputsAreSoftmax);
                        float total = (alpha * scale * sum) + (1f - alpha);
                        float rk = r[k];
                        if (!(total > 0f))
                        {
                            next[k] += rk;
                            continue;
                        }

                        if (rk != 0f)
                        {
                            MultiplyAdd.Invoke(_width, f, rk * alpha * scale / total, next, n);
                            next[k] += rk * (1f - alpha) / total;
                        }
                    }
                }

                float* swap = r;
                r = next;
                next = swap;
            }

            return r;
        }

        /// <summary>
        /// Fuses one row across <paramref name="heads"/> heads into <paramref name="destination"/>, checks every value
        /// read, and returns the fused row's sum (the heads' sum for mean fusion).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public float FuseAndCheck(
            float* source, long headStride, int heads, int n, float* destination, HeadFusion fusion, int layer, int item, int firstHead, int row,
            bool checkRowSums)
        {
            float min;
            fixed (float* sums = _sums)
            {
                min = FuseHeads.Invoke(fusion, _width, source, headStride, heads, n, destination, sums);
            }

            for (int h = 0; h < heads; h++)
            {
                if (!float.IsFinite(_sums[h]))
                {
                    ThrowNotFinite(layer, item, firstHead + h, row);
                }
            }

            if (min < 0f)
            {
                ThrowNegative(source, headStride, heads, n, layer, item, firstHead, row);
            }

            float total = 0f;
            for (int h = 0; h < heads; h++)
            {
                float s = _sums[h];
                if (checkRowSums && MathF.Abs(s - 1f) > RowSumTolerance)
                {
                    ThrowRowSum(layer, item, firstHead + h, row, s);
                }

                total += s;
            }

            return fusion == HeadFusion.Mean ? total : RowSum.Invoke(_width, destination, n);
        }

        /// <summary>Writes Ã_l = rownorm(α·fuse(A_l) + (1 − α)·I), after the discard, into a padded matrix.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void BuildLayer(float* stack, AttentionShape shape, int layer, int item, RolloutOptions options, float* destination)
        {
            int n = shape.Tokens, ld = Stride;
            float alpha = options.ResidualAlpha;
            float scale = options.Fusion == HeadFusion.Mean ? 1f / shape.Heads : 1f;
            bool discard = options.DiscardRatio > 0f;
            float* rowBase = stack + shape.OffsetOf(layer, item);
            for (int q = 0; q < n; q++)
            {
                float* dst = destination + ((long)q * ld);
                float sum = FuseAndCheck(rowBase + ((long)q * n), shape.MatrixLength, shape.Heads, n, dst, options.Fusion, layer, item, 0, q, !options.InputsAreSoftmax);
                if (discard)
                {
                    _rowSums[q] = sum;
                }
                else
                {
                    ResidualNormalize.Invoke(_width, dst, n, q, sum, alpha, scale);
                }
            }

            if (!discard)
            {
                return;
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

        [DoesNotReturn]
        private static void ThrowNotFinite(int layer, int item, int head, int row) =>
            throw new ArgumentException(
                $"The attention stack holds NaN or infinity at layer {layer}, item {item}, head {head}, row {row}: " +
                "pass attention probabilities (softmax outputs) from a healthy forward pass.", "stack");

        [DoesNotReturn]
        private static void ThrowNegative(float* source, long headStride, int heads, int n, int layer, int item, int firstHead, int row)
        {
            // Slow path: find the first head with a negative value to name it.
            int head = 0;
            float value = 0f;
            for (int h = 0; h < heads && value >= 0f; h++)
            {
                for (int j = 0; j < n; j++)
                {
                    if (source[(h * headStride) + j] < 0f)
                    {
                        (head, value) = (h, source[(h * headStride) + j]);
                        break;
                    }
                }
            }

            throw new ArgumentException(
                $"The attention stack holds a negative value ({value}) at layer {layer}, item {item}, head {firstHead + head}, row {row}: " +
                "rollout needs attention probabilities (softmax outputs), not logits or scores.", "stack");
        }

        [DoesNotReturn]
        private static void ThrowRowSum(int layer, int item, int head, int row, float sum) =>
            throw new ArgumentException(
                $"The attention row at layer {layer}, item {item}, head {head}, row {row} sums to {sum}, not 1 (tolerance {RowSumTolerance}): " +
                "pass softmax outputs over the last axis in [layer, batch, head, query, key] order, or set " +
                "RolloutOptions.InputsAreSoftmax if the rows are known to be probabilities.", "stack");
    }
}
