using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Microsoft.ML.OnnxRuntime;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Benchmarks.Forward;

/// <summary>
/// ONNX Runtime CPU forward pass of a seeded random ViT-B/16 built by <see cref="VitOnnxBuilder"/>, with all twelve
/// attention tensors as outputs against the same weights with logits only; batch 1 and 8, two intra-op threads, with
/// and without ONNX Runtime's memory pattern.
/// Outputs are pre-allocated OrtValues, so a run allocates nothing managed per image.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 10)]
public class ForwardBenchmarks
{
    private InferenceSession _session = null!;
    private RunOptions _runOptions = null!;
    private OrtValue _input = null!;
    private OrtValue[] _inputs = [];
    private readonly string[] _inputNames = [VitOnnxBuilder.InputName];
    private OrtValue[] _outputs = [];
    private string[] _outputNames = [];

    /// <summary>Images per run.</summary>
    [Params(1, 8)]
    public int Batch { get; set; }

    /// <summary>Whether the graph outputs the attention probabilities (true) or logits only (false).</summary>
    [Params(true, false)]
    public bool Attentions { get; set; }

    /// <summary>
    /// ONNX Runtime's memory pattern (<c>VitSessionOptions.UseMemoryPattern</c>): on by default, off in the
    /// <c>vit-attention</c> command, whose long runs it keeps flat (docs/reliability.md).
    /// </summary>
    [Params(true, false)]
    public bool MemoryPattern { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = VitConfig.VitB16();
        var weights = VitWeights.Random(config, seed: 1);
        byte[] onnx = VitOnnxBuilder.Build(config, weights, includeAttentions: Attentions);
        using var options = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, EnableMemoryPattern = MemoryPattern };
        _session = new InferenceSession(onnx, options);
        _runOptions = new RunOptions();
        var rng = new Random(3);
        float[] pixels = new float[Batch * 3 * 224 * 224]; // [batch, 3, 224, 224]
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        _input = OrtValue.CreateTensorValueFromMemory(pixels, [Batch, 3, 224, 224]);
        _inputs = [_input];
        _outputNames = [.. _session.OutputNames];
        _outputs = [.. _outputNames.Select(name => name == PreparedModel.LogitsOutput
            ? OrtValue.CreateTensorValueFromMemory(new float[Batch * 1000], [Batch, 1000]) // [batch, classes]
            : OrtValue.CreateTensorValueFromMemory(new float[Batch * 12 * 197 * 197], [Batch, 12, 197, 197]))]; // [batch, head, query, key]
    }

    [Benchmark]
    public void Forward() => _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var o in _outputs)
        {
            o.Dispose();
        }

        _input.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}
