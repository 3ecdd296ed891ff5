using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Benchmarks.Rollout;

/// <summary>
/// Rollout over real ViT shapes (batch 1, random row-stochastic attention): the full matrix, the single row an
/// overlay needs, every layer's CLS head-mean map, and the memory floor (one <c>TensorPrimitives.Sum</c> over the
/// same stack: anything that reads every attention once costs at least this). Each category's baseline is the
/// scalar kernels on one thread; <c>Full</c> runs with the default options (every core, at most two threads used),
/// <c>FullOneThread</c> on the calling thread only. 197 and 577 are not multiples of any vector width. Min is
/// reported beside the mean because the benchmark machine is shared: the minimum is the least disturbed run.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RolloutBenchmarks
{
    private float[] _stack = [];     // [layer, 1, head, tokens, tokens]
    private float[] _matrix = [];    // [tokens, tokens]
    private float[] _row = [];       // [tokens]
    private AttentionShape _shape;
    private readonly RolloutEngine _engine = new();
    private readonly RolloutEngine _scalar = new(SimdWidth.Scalar);
    private readonly RolloutOptions _options = RolloutOptions.Default;   // the full matrix may use every core (two here)
    private readonly RolloutOptions _oneThread = RolloutOptions.Default with { MaxDegreeOfParallelism = 1 };

    /// <summary>layers × heads × tokens: ViT-B/16 at 224, ViT-L/16 at 224, ViT-B/16 at 384.</summary>
    [Params("12x12x197", "24x16x197", "12x12x577")]
    public string Shape { get; set; } = "12x12x197";

    [GlobalSetup]
    public void Setup()
    {
        int[] d = [.. Shape.Split('x').Select(int.Parse)];
        _shape = new AttentionShape(d[0], 1, d[1], d[2]);
        _stack = new float[_shape.TotalLength];
        var random = new Random(42);
        int n = _shape.Tokens;
        for (int offset = 0; offset < _stack.Length; offset += n)
        {
            Span<float> row = _stack.AsSpan(offset, n);
            for (int j = 0; j < n; j++)
            {
                row[j] = MathF.Exp(4f * random.NextSingle());
            }

            TensorPrimitives.Divide(row, TensorPrimitives.Sum<float>(row), row);
        }

        _matrix = new float[n * n];
        _row = new float[n];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Full")]
    public void FullScalar() => _scalar.RolloutMatrix(_stack, _shape, 0, _oneThread, _matrix);

    [Benchmark, BenchmarkCategory("Full")]
    public void Full() => _engine.RolloutMatrix(_stack, _shape, 0, _options, _matrix);

    [Benchmark, BenchmarkCategory("Full")]
    public void FullOneThread() => _engine.RolloutMatrix(_stack, _shape, 0, _oneThread, _matrix);

    [Benchmark(Baseline = true), BenchmarkCategory("Row")]
    public void RowScalar() => _scalar.RolloutRow(_stack, _shape, 0, _options, _row);

    [Benchmark, BenchmarkCategory("Row")]
    public void Row() => _engine.RolloutRow(_stack, _shape, 0, _options, _row);

    [Benchmark, BenchmarkCategory("Row")]
    public float MemoryFloor() => TensorPrimitives.Sum<float>(_stack);

    [Benchmark(Baseline = true), BenchmarkCategory("LayerMaps")]
    public void LayerMapsScalar()
    {
        for (int l = 0; l < _shape.Layers; l++)
        {
            _scalar.LayerRow(_stack, _shape, l, 0, 0, null, _row);
        }
    }

    [Benchmark, BenchmarkCategory("LayerMaps")]
    public void LayerMaps()
    {
        for (int l = 0; l < _shape.Layers; l++)
        {
            _engine.LayerRow(_stack, _shape, l, 0, 0, null, _row);
        }
    }
}
