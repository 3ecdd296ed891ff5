using BenchmarkDotNet.Attributes;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Benchmarks.Gradients;

/// <summary>
/// The discard step of gradient rollout on one ViT-B/16 layer's fused matrix (197 tokens, one prefix token, half the
/// entries 0 as after the ReLU of mean_h(A ⊙ dA)): the three-pass radix select against the compacting one (one pass
/// over the block, then only the chosen bucket's entries; with one histogram or four interleaved ones), ratio 0.9. The matrix is restored before each call, and
/// the restore alone is the baseline.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class DiscardBenchmarks
{
    private const int Tokens = 197, Prefix = 1;
    private readonly int[] _histogram = new int[DiscardLowest.HistogramLength];
    private readonly int[] _interleaved = new int[DiscardLowest.InterleavedHistogramLength];
    private readonly uint[] _scratch = new uint[DiscardLowest.ScratchLength(Tokens, Prefix)];
    private float[] _source = [];
    private float[] _work = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(5);
        _source = [.. Enumerable.Range(0, Tokens * Tokens).Select(_ => Math.Max(0f, (float)((rng.NextDouble() * 2) - 1)) * 1e-3f)];
        _work = new float[_source.Length];
    }

    [Benchmark(Baseline = true)]
    public float RestoreOnly()
    {
        _source.CopyTo(_work, 0);
        return _work[^1];
    }

    [Benchmark]
    public unsafe float ThreePassSelect()
    {
        _source.CopyTo(_work, 0);
        fixed (float* f = _work)
        {
            DiscardLowest.Invoke(f, Tokens, Tokens, Prefix, 0.9f, _histogram);
        }

        return _work[^1];
    }

    [Benchmark]
    public unsafe float CompactingSelect()
    {
        _source.CopyTo(_work, 0);
        fixed (float* f = _work)
        {
            DiscardLowest.Invoke(f, Tokens, Tokens, Prefix, 0.9f, _histogram, _scratch);
        }

        return _work[^1];
    }

    [Benchmark]
    public unsafe float CompactingInterleaved()
    {
        _source.CopyTo(_work, 0);
        fixed (float* f = _work)
        {
            DiscardLowest.Invoke(f, Tokens, Tokens, Prefix, 0.9f, _interleaved, _scratch);
        }

        return _work[^1];
    }
}
