using BenchmarkDotNet.Attributes;
using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rendering;

namespace VitAttention.Benchmarks.Rendering;

/// <summary>
/// Drawing the four study figures (final-layer CLS overlay, layers 1/6/12, the three most focused layers, the
/// rollout) for a 512 × 512 photo with 14 × 14 maps from 12 layers, against one ViT-B/16 forward pass with all
/// attentions (seeded random weights, batch 1, two intra-op threads) in the same run.
/// <c>dotnet run -c Release --project benchmarks/VitAttention.Benchmarks -- --filter '*FiguresBenchmark*' --job short</c>
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class FiguresBenchmark
{
    private SKBitmap _photo = null!;
    private SKRectI _seen;
    private List<AttentionMap> _layers = null!;
    private AttentionMap _rollout = null!;
    private VitSession _session = null!;
    private float[] _pixels = [];

    [GlobalSetup]
    public void Setup()
    {
        var config = VitConfig.VitB16();
        var model = new PreparedModel(config, VitOnnxBuilder.Build(config, VitWeights.Random(config, seed: 1)), VitOnnxBuilder.InputName, "random ViT-B/16");
        _session = new VitSession(model, VitSessionOptions.Default with { IntraOpThreads = 2 });
        var pixelRng = new Random(3);
        _pixels = new float[_session.InputLength]; // [1, 3, 224, 224]
        for (int i = 0; i < _pixels.Length; i++)
        {
            _pixels[i] = (float)((pixelRng.NextDouble() * 2) - 1);
        }

        _photo = SKBitmap.Decode(FindImage("astronaut.png"));
        _seen = new SKRectI(0, 0, _photo.Width, _photo.Height);
        var rng = new Random(2026);
        _layers = Enumerable.Range(0, 12).Select(_ => RandomMap(rng)).ToList();
        _rollout = RandomMap(rng);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _photo.Dispose();
        _session.Dispose();
    }

    /// <summary>One ViT-B/16 forward pass with every layer's attention as output, what the figures are compared with.</summary>
    [Benchmark]
    public int ForwardVitB16() => _session.Run(_pixels, 1).Attentions.Shape.Layers;

    /// <summary>The four figures as images (what "drawing" costs).</summary>
    [Benchmark(Baseline = true)]
    public int FourFigures()
    {
        using var cls = Figures.ClsOverlay(_photo, _seen, _layers[^1]);
        using var layers = Figures.Layers(_photo, _seen, _layers, [1, 6, 12]);
        using var focused = Figures.FocusedLayers(_photo, _seen, _layers, topK: 3);
        using var rollout = Figures.RolloutOverlay(_photo, _seen, _rollout);
        return cls.Width + layers.Width + focused.Width + rollout.Width;
    }

    /// <summary>The four figures, each encoded as PNG bytes (what saving them costs, less the disk).</summary>
    [Benchmark]
    public int FourFiguresAsPng()
    {
        using var cls = Figures.ClsOverlay(_photo, _seen, _layers[^1]);
        using var layers = Figures.Layers(_photo, _seen, _layers, [1, 6, 12]);
        using var focused = Figures.FocusedLayers(_photo, _seen, _layers, topK: 3);
        using var rollout = Figures.RolloutOverlay(_photo, _seen, _rollout);
        return Figures.EncodePng(cls).Length + Figures.EncodePng(layers).Length + Figures.EncodePng(focused).Length
            + Figures.EncodePng(rollout).Length;
    }

    /// <summary>One overlay at the photo's own size, no figure around it.</summary>
    [Benchmark]
    public int OverlayOnly()
    {
        using var overlay = Overlay.Render(_photo, _seen, _layers[^1]);
        return overlay.Width;
    }

    private static AttentionMap RandomMap(Random rng)
    {
        var values = new float[14 * 14];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)Math.Exp(3 * rng.NextDouble());
            sum += values[i];
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(values[i] / sum);
        }

        return new AttentionMap(14, 14, values);
    }

    private static string FindImage(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "VitAttention.Tests", "Images", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{name} not found under tests/VitAttention.Tests/Images above {AppContext.BaseDirectory}.");
    }
}
