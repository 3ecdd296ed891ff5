using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using VitAttention.Models;

namespace VitAttention.Benchmarks.Loading;

/// <summary>
/// One measurement per process, for benchmarks/run-load-comparison.sh: peak resident memory is a property of a whole
/// process, so cold load, warm load and a bare ONNX Runtime session each run alone.
/// <list type="bullet">
/// <item><c>load-probe checkpoint DIR</c>: writes a seeded random ViT-B/16 checkpoint (timm layout: config.json and
/// model.safetensors, 346 MB) to DIR.</item>
/// <item><c>load-probe load DIR</c>: <see cref="VitExplainer.Load"/> of the checkpoint (the prepared-model cache is
/// <c>VITATTENTION_CACHE</c>: empty for a cold load, filled for a warm one).</item>
/// <item><c>load-probe bare FILE.onnx</c>: <c>new InferenceSession(path)</c> with default options, the floor.</item>
/// </list>
/// Each prints one JSON line: wall milliseconds, peak and final resident set, managed heap after a full collection.
/// </summary>
internal static class LoadProbe
{
    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: load-probe checkpoint|load|bare PATH");
            return 2;
        }

        switch (args[0])
        {
            case "checkpoint":
                WriteCheckpoint(args[1]);
                return 0;
            case "load":
            {
                var clock = Stopwatch.StartNew();
                using var explainer = VitExplainer.Load(args[1]);
                Report("load", clock.Elapsed);
                return 0;
            }

            case "bare":
            {
                var clock = Stopwatch.StartNew();
                using var session = new InferenceSession(args[1]);
                Report("bare", clock.Elapsed);
                return 0;
            }

            default:
                Console.Error.WriteLine($"unknown probe '{args[0]}'");
                return 2;
        }
    }

    private static void Report(string what, TimeSpan elapsed)
    {
        long rss = StatusKiB("VmRSS:"), peak = StatusKiB("VmHWM:");
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["probe"] = what,
            ["ms"] = Math.Round(elapsed.TotalMilliseconds, 1),
            ["peakRssMiB"] = Math.Round(peak / 1024.0, 1),
            ["rssMiB"] = Math.Round(rss / 1024.0, 1),
            ["managedMiB"] = Math.Round(managed / 1048576.0, 1),
        }));
    }

    private static long StatusKiB(string key)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    /// <summary>A random ViT-B/16 (seed 1) in timm's layout: fused qkv, <c>blocks.{l}.*</c>, 1000 classes.</summary>
    private static void WriteCheckpoint(string folder)
    {
        var config = VitConfig.VitB16() with { Family = ModelFamily.Timm };
        VitWeights w = VitWeights.Random(config, seed: 1);
        int d = config.HiddenSize, mlp = config.IntermediateSize, c = config.NumClasses;
        var tensors = new List<(string, long[], float[])>
        {
            ("patch_embed.proj.weight", [d, 3, 16, 16], w.PatchWeight),
            ("patch_embed.proj.bias", [d], w.PatchBias!),
            ("cls_token", [1, 1, d], w.ClassToken!),
            ("pos_embed", [1, config.Tokens, d], w.PositionEmbedding!),
            ("norm.weight", [d], w.FinalNormWeight),
            ("norm.bias", [d], w.FinalNormBias),
            ("head.weight", [c, d], w.HeadWeight!),
            ("head.bias", [c], w.HeadBias!),
        };
        for (int l = 0; l < config.NumLayers; l++)
        {
            var b = w.Layers[l];
            string p = $"blocks.{l}.";
            tensors.AddRange(
            [
                (p + "norm1.weight", [d], b.Norm1Weight), (p + "norm1.bias", [d], b.Norm1Bias),
                (p + "attn.qkv.weight", [3 * d, d], b.QkvWeight), (p + "attn.qkv.bias", [3 * d], b.QkvBias!),
                (p + "attn.proj.weight", [d, d], b.ProjWeight), (p + "attn.proj.bias", [d], b.ProjBias),
                (p + "norm2.weight", [d], b.Norm2Weight), (p + "norm2.bias", [d], b.Norm2Bias),
                (p + "mlp.fc1.weight", [mlp, d], b.Fc1Weight), (p + "mlp.fc1.bias", [mlp], b.Fc1Bias),
                (p + "mlp.fc2.weight", [d, mlp], b.Fc2Weight), (p + "mlp.fc2.bias", [d], b.Fc2Bias),
            ]);
        }

        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), SafeTensorsWriter.ToBytes(tensors));
        var json = new Dictionary<string, object>
        {
            ["architecture"] = "vit_base_patch16_224",
            ["num_classes"] = c,
            ["num_features"] = d,
            ["model_args"] = new Dictionary<string, object>
            {
                ["img_size"] = 224, ["patch_size"] = 16, ["embed_dim"] = d, ["depth"] = 12, ["num_heads"] = 12, ["mlp_ratio"] = 4.0,
            },
            ["pretrained_cfg"] = new Dictionary<string, object>
            {
                ["input_size"] = new[] { 3, 224, 224 }, ["interpolation"] = "bicubic", ["mean"] = new[] { 0.5, 0.5, 0.5 },
                ["std"] = new[] { 0.5, 0.5, 0.5 }, ["crop_pct"] = 0.9, ["num_classes"] = c, ["classifier"] = "head",
            },
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(json));
    }
}
