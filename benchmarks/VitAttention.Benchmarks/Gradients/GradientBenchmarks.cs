using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using VitAttention.Loading;
using VitAttention.Analysis.Methods;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Benchmarks.Gradients;

/// <summary>
/// The cost of class-specific explanations on a seeded random ViT-B/16 (graph built by <see cref="VitOnnxBuilder"/>),
/// ONNX Runtime CPU with two intra-op threads: the forward pass with every attention as output (the baseline, what
/// <see cref="VitSession"/> runs) against one run of the gradient graph (logits, attentions, d logit / d attention for
/// all 12 layers, norm1 activations and gradients), batch 1 and 8; and the maps of every method computed from those
/// tensors for one image.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 10)]
public class GradientBenchmarks
{
    private VitSession _forward = null!;
    private GradientSession _gradients = null!;
    private float[] _pixels = [];
    private int[] _targets = [];
    private GradientOutput _output = null!;

    /// <summary>Images per run.</summary>
    [Params(1, 8)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (PreparedModel model, float[] pixels) = VitB16(Batch);
        var options = new VitSessionOptions { IntraOpThreads = 2 };
        _forward = new VitSession(model, options);
        _gradients = new GradientSession(model, options);
        _pixels = pixels;
        _targets = [.. Enumerable.Range(0, Batch).Select(i => (i * 137) % 1000)];
        _output = _gradients.Run(_pixels, Batch, _targets);
    }

    /// <summary>A seeded random ViT-B/16 and a batch of seeded random pixels in [−1, 1].</summary>
    internal static (PreparedModel Model, float[] Pixels) VitB16(int batch)
    {
        var config = VitConfig.VitB16();
        var weights = VitWeights.Random(config, seed: 1);
        var model = new PreparedModel(config, VitOnnxBuilder.Build(config, weights), VitOnnxBuilder.InputName, "random ViT-B/16");
        var rng = new Random(3);
        float[] pixels = new float[batch * 3 * 224 * 224]; // [batch, 3, 224, 224]
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        return (model, pixels);
    }

    /// <summary>Logits and every layer's attention (the explanation session without gradients).</summary>
    [Benchmark(Baseline = true)]
    public int ForwardWithAttentions() => _forward.Run(_pixels, Batch).Batch;

    /// <summary>Logits, attentions, all attention gradients and the norm1 tensors, in one run.</summary>
    [Benchmark]
    public int ForwardAndGradients() => _gradients.Run(_pixels, Batch, _targets).Batch;

    /// <summary>Every method's map for image 0 from the tensors of one gradient run.</summary>
    [Benchmark]
    public int MethodMaps() => AllMaps(_output, 0);

    /// <summary>Attention, gradient rollout (no discard and 0.9), transformer attribution, both Grad-CAMs.</summary>
    internal static int AllMaps(GradientOutput o, int item)
    {
        int t = o.Attentions.Shape.Tokens;
        const int Prefix = 1;
        QueryRows cls = QueryRows.Token(0);
        int total = 0;
        total += ExplanationMethods.Attention(o.Attentions, item, Prefix, cls).Length;
        total += ExplanationMethods.GradientRollout(o.Attentions, o.AttentionGradients, item, Prefix, cls).Length;
        total += ExplanationMethods.GradientRollout(o.Attentions, o.AttentionGradients, item, Prefix, cls, 0.9f).Length;
        total += ExplanationMethods.TransformerAttribution(o.Attentions, o.AttentionGradients, item, Prefix, cls).Length;
        total += ExplanationMethods.GradCam(o.Item(o.Norm1Output, item), o.Item(o.Norm1OutputGradient, item), t, Prefix).Length;
        total += ExplanationMethods.AttentionGradCam(o.Attentions, o.AttentionGradients, item, Prefix, cls).Length;
        return total;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _forward.Dispose();
        _gradients.Dispose();
    }
}
