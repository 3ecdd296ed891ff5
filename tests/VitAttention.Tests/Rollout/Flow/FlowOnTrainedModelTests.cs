using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Tests.Rollout.Flow;

/// <summary>
/// Attention flow on a trained model's real attention: the Fashion-MNIST ViT of models/fashion-vit (or the folder
/// <c>VITATTENTION_FLOW_MODEL</c> names) on the first 100 test images of Fashion-MNIST (the Debian package
/// dataset-fashion-mnist, or the folder <c>FASHION_MNIST_DIR</c> names). It checks on every image what must hold
/// (rollout ≤ flow ≤ trivial bound, the cut certificate) and prints how flow relates to rollout and to the trivial
/// bound (docs/benchmarks/flow.md quotes the table). Ignored, saying why, where the model or the data is absent.
/// </summary>
public class FlowOnTrainedModelTests
{
    private const int Images = 100;

    private static string? ModelFolder()
    {
        if (Environment.GetEnvironmentVariable("VITATTENTION_FLOW_MODEL") is { Length: > 0 } dir)
        {
            return dir;
        }

        // The repository root is the first folder above the test output that holds the solution.
        for (DirectoryInfo? d = new(TestContext.CurrentContext.TestDirectory); d != null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "VitAttention.sln")))
            {
                return Path.Combine(d.FullName, "models", "fashion-vit");
            }
        }

        return null;
    }

    private static byte[] ReadIdxImages(string path, int count)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var header = new byte[16];
        gzip.ReadExactly(header);
        Assert.That(BinaryPrimitives.ReadInt32BigEndian(header), Is.EqualTo(0x803), "idx3 magic");
        Assert.That(BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8)), Is.EqualTo(28));
        var pixels = new byte[count * 28 * 28];
        gzip.ReadExactly(pixels);
        return pixels;
    }

    [Test]
    public void FlowRow_TrainedFashionVit_LiesBetweenRolloutAndBoundAndIsReported()
    {
        string? folder = ModelFolder();
        if (folder is null || !File.Exists(Path.Combine(folder, "config.json")))
        {
            Assert.Ignore($"No trained model at {folder ?? "models/fashion-vit"}: set VITATTENTION_FLOW_MODEL to a ViT checkpoint folder.");
        }

        string data = Environment.GetEnvironmentVariable("FASHION_MNIST_DIR") is { Length: > 0 } d ? d : "/usr/share/datasets/fashion-mnist";
        string imagesPath = Path.Combine(data, "t10k-images-idx3-ubyte.gz");
        if (!File.Exists(imagesPath))
        {
            Assert.Ignore($"Fashion-MNIST is not installed ({imagesPath}): apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR.");
        }

        PreparedModel model = ModelLoader.Load(folder!);
        VitConfig config = model.Config;
        Assume.That(config.ImageHeight == 28 && config.ImageWidth == 28, "a 28×28 model (Fashion-MNIST's size, no resize)");
        byte[] images = ReadIdxImages(imagesPath, Images);
        int channels = config.Channels, side = 28, plane = side * side;
        var pixels = new float[Images * channels * plane]; // [image, channel, y, x]
        for (int i = 0; i < Images; i++)
        {
            for (int c = 0; c < channels; c++)
            {
                float mean = config.Preprocess.Mean[c], std = config.Preprocess.Std[c];
                for (int p = 0; p < plane; p++)
                {
                    pixels[((i * channels) + c) * plane + p] = ((images[(i * plane) + p] / 255f) - mean) / std;
                }
            }
        }

        using var session = new VitSession(model);
        AttentionStack stack = session.Run(pixels, Images).Attentions;
        AttentionShape shape = stack.Shape;
        int tokens = shape.Tokens, prefix = config.PrefixTokens;
        var engine = new AttentionFlowEngine();
        var rolloutEngine = new RolloutEngine();
        var options = RolloutOptions.Default with { PrefixTokens = prefix };
        var flow = new double[tokens];
        var cut = new double[tokens];
        var rollout = new float[tokens];
        var rows = new List<double[]>(); // per image: ρ(flow, rollout), r(flow, rollout), ρ(flow, bound), r(flow, bound), ρ(rollout, bound), share at bound, mean gap, share with bound 1
        for (int item = 0; item < Images; item++)
        {
            engine.FlowRow(stack.Data, shape, item, options, flow, cut);
            rolloutEngine.RolloutRow(stack.Data, shape, item, options, rollout);
            AttentionFlowResult result = engine.Compute(stack, item, config.GridHeight, config.GridWidth, options);
            double[] f = flow[prefix..], r = [.. rollout[prefix..].Select(v => (double)v)], b = result.TrivialBound[prefix..].ToArray();
            for (int j = 0; j < tokens; j++)
            {
                Assert.That(cut[j], Is.EqualTo(flow[j]).Within(1e-9), $"image {item}, token {j}: cut certificate");
                Assert.That(flow[j], Is.LessThanOrEqualTo(result.TrivialBound[j] + 1e-12), $"image {item}, token {j}: flow ≤ bound");
                Assert.That(flow[j], Is.GreaterThanOrEqualTo(rollout[j] - 1e-6), $"image {item}, token {j}: flow ≥ rollout");
            }

            rows.Add([Spearman(f, r), Pearson(f, r), Spearman(f, b), Pearson(f, b), Spearman(r, b),
                f.Zip(b).Count(p => p.Second - p.First <= 1e-9) / (double)f.Length, f.Zip(b).Average(p => p.Second - p.First),
                b.Count(v => v >= 1 - 1e-12) / (double)b.Length]);
        }

        string[] names = ["Spearman(flow, rollout)", "Pearson(flow, rollout)", "Spearman(flow, bound)", "Pearson(flow, bound)",
            "Spearman(rollout, bound)", "share of patches with flow = bound", "mean (bound − flow)",
            "share of patches whose bound is 1 (tied at the top)"];
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"model {folder}, {shape.Layers} layers, {shape.Heads} heads, {tokens} tokens, first {Images} test images (patch tokens only)");
        report.AppendLine("| quantity | mean | sd | min | max |");
        report.AppendLine("| --- | --- | --- | --- | --- |");
        for (int k = 0; k < names.Length; k++)
        {
            double[] v = [.. rows.Select(row => row[k]).Where(double.IsFinite)];
            double mean = v.Average(), sd = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / Math.Max(1, v.Length - 1));
            report.AppendLine(CultureInfo.InvariantCulture, $"| {names[k]} | {mean:F3} | {sd:F3} | {v.Min():F3} | {v.Max():F3} |");
        }

        TestContext.Out.WriteLine(report.ToString());
        Assert.That(rows, Has.Count.EqualTo(Images));
    }

    private static double Pearson(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }

        return sxy / Math.Sqrt(sxx * syy);
    }

    private static double Spearman(double[] x, double[] y) => Pearson(Ranks(x), Ranks(y));

    /// <summary>
    /// Ranks from 1, ties sharing their average rank. Values are rounded to 1e-9 first: flows equal to a bound of
    /// exactly 1 differ from it and from each other by rounding only, and must tie, not be ranked by their last bits.
    /// </summary>
    private static double[] Ranks(double[] raw)
    {
        double[] values = [.. raw.Select(v => Math.Round(v, 9))];
        int[] order = [.. Enumerable.Range(0, values.Length).OrderBy(i => values[i])];
        var ranks = new double[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]])
            {
                end++;
            }

            for (int k = start; k <= end; k++)
            {
                ranks[order[k]] = ((start + end) / 2.0) + 1;
            }

            start = end + 1;
        }

        return ranks;
    }
}
