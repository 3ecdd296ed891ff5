using System.Diagnostics;
using System.Globalization;
using VitAttention.Loading;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Benchmarks.Gradients;

/// <summary>
/// The fair comparison on a shared machine: the attention session and the gradient session run alternately in one
/// process, so a load change hits both alike; reports each median and the median of the per-pair ratios, and the
/// method maps' time against the forward pass.
/// Usage: <c>gradients-interleaved [--batches 1,8] [--rounds 15] [--threads 2]</c>.
/// </summary>
internal static class InterleavedGradients
{
    public static void Run(string[] args)
    {
        int[] batches = [1, 8];
        int rounds = 15, threads = 2;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--batches":
                    batches = [.. args[i + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
                    break;
                case "--rounds":
                    rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--threads":
                    threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"Unknown option {args[i]}; use --batches, --rounds, --threads.");
            }
        }

        var watch = Stopwatch.StartNew();
        (PreparedModel model, _) = GradientBenchmarks.VitB16(1);
        Console.WriteLine($"model built in {watch.Elapsed.TotalSeconds:F1} s");
        watch.Restart();
        var graph = GradientSession.GraphOf(model);
        Console.WriteLine($"gradient graph built in {watch.Elapsed.TotalSeconds:F1} s: {graph.BackwardNodes} backward nodes, " +
            $"{graph.DifferentiatedOps.Count} forward nodes differentiated, {graph.Onnx.Length / 1e6:F0} MB");
        var options = new VitSessionOptions { IntraOpThreads = threads };
        using var forward = new VitSession(model, options);
        watch.Restart();
        using var gradients = new GradientSession(model, options);
        Console.WriteLine($"gradient session created in {watch.Elapsed.TotalSeconds:F1} s; {threads} intra-op threads");
        foreach (int batch in batches)
        {
            (_, float[] pixels) = GradientBenchmarks.VitB16(batch);
            int[] targets = [.. Enumerable.Range(0, batch).Select(i => (i * 137) % 1000)];
            for (int w = 0; w < 2; w++)
            {
                forward.Run(pixels, batch);
                gradients.Run(pixels, batch, targets);
            }

            var f = new List<double>();
            var g = new List<double>();
            var m = new List<double>();
            GradientOutput last = null!;
            for (int r = 0; r < rounds; r++)
            {
                watch.Restart();
                forward.Run(pixels, batch);
                f.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                last = gradients.Run(pixels, batch, targets);
                g.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                GradientBenchmarks.AllMaps(last, 0);
                m.Add(watch.Elapsed.TotalMilliseconds);
            }

            double ratio = Median(f.Zip(g, (a, b) => b / a));
            double mapsRatio = Median(f.Zip(m, (a, b) => b / a * batch));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"batch {batch}: forward+attentions median {Median(f):F1} ms, forward+gradients {Median(g):F1} ms, " +
                $"ratio (median of {rounds} pairs) {ratio:F2}; all maps for one image {Median(m):F2} ms = {mapsRatio:P1} of one image's forward"));
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
