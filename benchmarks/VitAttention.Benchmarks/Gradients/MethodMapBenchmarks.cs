using BenchmarkDotNet.Attributes;
using VitAttention.Analysis.Methods;
using VitAttention.Inference;

namespace VitAttention.Benchmarks.Gradients;

/// <summary>
/// Each class-specific method's map for one image from ViT-B/16-sized tensors (12 layers × 12 heads × 197 tokens,
/// softmax rows of seeded random scores, seeded normal gradients, hidden 768), on the calling thread. Compare with
/// <see cref="GradientBenchmarks"/>' forward pass in the same run.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class MethodMapBenchmarks
{
    private const int Layers = 12, Heads = 12, Tokens = 197, Hidden = 768, Prefix = 1;
    private AttentionStack _attentions = null!;
    private float[] _gradients = [];
    private float[] _activation = [];
    private float[] _activationGradient = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(11);
        var shape = new AttentionShape(Layers, 1, Heads, Tokens);
        var a = new float[shape.TotalLength]; // [layer, batch, head, query, key]
        for (int row = 0; row < a.Length / Tokens; row++)
        {
            Span<float> r = a.AsSpan(row * Tokens, Tokens);
            float sum = 0;
            for (int j = 0; j < Tokens; j++)
            {
                r[j] = MathF.Exp((float)(rng.NextDouble() * 4));
                sum += r[j];
            }

            for (int j = 0; j < Tokens; j++)
            {
                r[j] /= sum;
            }
        }

        _attentions = new AttentionStack(shape, a);
        _gradients = [.. Enumerable.Range(0, a.Length).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
        _activation = [.. Enumerable.Range(0, Tokens * Hidden).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
        _activationGradient = [.. Enumerable.Range(0, Tokens * Hidden).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
    }

    [Benchmark(Baseline = true)]
    public float[] Attention() => ExplanationMethods.Attention(_attentions, 0, Prefix, QueryRows.Token(0));

    [Benchmark]
    public float[] GradientRollout() => ExplanationMethods.GradientRollout(_attentions, _gradients, 0, Prefix, QueryRows.Token(0));

    [Benchmark]
    public float[] GradientRolloutDiscard90() => ExplanationMethods.GradientRollout(_attentions, _gradients, 0, Prefix, QueryRows.Token(0), 0.9f);

    [Benchmark]
    public float[] TransformerAttribution() => ExplanationMethods.TransformerAttribution(_attentions, _gradients, 0, Prefix, QueryRows.Token(0));

    [Benchmark]
    public float[] GradCam() => ExplanationMethods.GradCam(_activation, _activationGradient, Tokens, Prefix);

    [Benchmark]
    public float[] AttentionGradCam() => ExplanationMethods.AttentionGradCam(_attentions, _gradients, 0, Prefix, QueryRows.Token(0));
}
