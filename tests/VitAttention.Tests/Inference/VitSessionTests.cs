using System.Collections.Concurrent;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Inference;

/// <summary>
/// The session against the fixture's float64 PyTorch outputs, and its mechanics: shapes, batching, concurrency,
/// devices, cancellation, validation.
/// </summary>
public class VitSessionTests
{
    private static PreparedModel? s_model;

    /// <summary>The HF fixture built into an ONNX graph with attention outputs (once per test run).</summary>
    private static PreparedModel Model => s_model ??= CheckpointLoader.Prepare(FixturePaths.HfFolder);

    private static VitSessionOptions Options => VitSessionOptions.Default with { IntraOpThreads = 1 };

    private static float[] FixturePixels()
    {
        using SafeTensorsFile expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        return expected.ReadFloat32("pixel_values"); // [2, 3, 32, 32]
    }

    [Test]
    public void Run_FixturePixels_MatchesPyTorchLogitsAndAttentions()
    {
        using var session = new VitSession(Model, Options);
        using SafeTensorsFile expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));

        VitOutput output = session.Run(FixturePixels(), 2);

        double[] logits = expected.ReadFloat64("logits"); // [2, 5]
        Assert.That(output.Logits, Has.Length.EqualTo(10));
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.That(output.Logits[i], Is.EqualTo(logits[i]).Within(1e-4), $"logit {i}");
        }

        Assert.That(output.Attentions.Shape, Is.EqualTo(new AttentionShape(3, 2, 4, 17)));
        for (int l = 0; l < 3; l++)
        {
            double[] reference = expected.ReadFloat64($"attentions.{l}"); // [batch, head, query, key]
            for (int b = 0; b < 2; b++)
            {
                ReadOnlySpan<float> layer = output.Attentions.Layer(l, b); // [head, query, key]
                for (int i = 0; i < layer.Length; i++)
                {
                    Assert.That(layer[i], Is.EqualTo(reference[b * layer.Length + i]).Within(1e-5), $"layer {l}, item {b}, index {i}");
                }
            }
        }
    }

    [Test]
    public void Run_InputPngThroughPreprocessor_MatchesReferenceLogits()
    {
        // End to end: the photo through the library's own preprocessing, then the session.
        using var session = new VitSession(Model, Options);
        var preprocessor = new ImagePreprocessor(Model.Config);
        using PreprocessedImage image = preprocessor.Preprocess(Path.Combine(FixturePaths.HfFolder, "input.png"));
        using SafeTensorsFile expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        double[] logits = expected.ReadFloat64("logits");

        VitOutput output = session.Run(image);

        for (int i = 0; i < 5; i++)
        {
            Assert.That(output.Logits[i], Is.EqualTo(logits[i]).Within(1e-3), $"logit {i}");
        }
    }

    [Test]
    public void Run_BatchOfTwo_EqualsTwoBatchesOfOne()
    {
        using var session = new VitSession(Model, Options);
        float[] pixels = RandomPixels(2, session.InputLength, seed: 11);

        VitOutput both = session.Run(pixels, 2);
        VitOutput first = session.Run(pixels.AsSpan(0, session.InputLength), 1);
        VitOutput second = session.Run(pixels.AsSpan(session.InputLength), 1);

        Assert.That(both.LogitsOf(0).ToArray(), Is.EqualTo(first.Logits).Within(1e-5));
        Assert.That(both.LogitsOf(1).ToArray(), Is.EqualTo(second.Logits).Within(1e-5));
        for (int l = 0; l < 3; l++)
        {
            Assert.That(both.Attentions.Layer(l, 0).ToArray(), Is.EqualTo(first.Attentions.Layer(l, 0).ToArray()).Within(1e-6));
            Assert.That(both.Attentions.Layer(l, 1).ToArray(), Is.EqualTo(second.Attentions.Layer(l, 0).ToArray()).Within(1e-6));
        }
    }

    [Test]
    public void Run_AttentionRows_AreProbabilityDistributions()
    {
        using var session = new VitSession(Model, Options);

        VitOutput output = session.Run(RandomPixels(3, session.InputLength, seed: 5), 3);

        ReadOnlySpan<float> data = output.Attentions.Data;
        Assert.That(data.Length, Is.EqualTo(3 * 3 * 4 * 17 * 17));
        for (int row = 0; row < data.Length / 17; row++)
        {
            double sum = 0;
            for (int k = 0; k < 17; k++)
            {
                Assert.That(data[row * 17 + k], Is.GreaterThanOrEqualTo(0f));
                sum += data[row * 17 + k];
            }

            Assert.That(sum, Is.EqualTo(1.0).Within(1e-5), $"row {row}");
        }
    }

    [Test]
    public void Run_EightThreadsConcurrently_EqualsSequential()
    {
        using var session = new VitSession(Model, Options);
        float[][] inputs = Enumerable.Range(0, 8).Select(i => RandomPixels(1 + i % 2, session.InputLength, seed: 100 + i)).ToArray();
        VitOutput[] sequential = inputs.Select(x => session.Run(x, x.Length / session.InputLength)).ToArray();

        var concurrent = new ConcurrentDictionary<int, VitOutput>();
        using var start = new Barrier(8);
        var threads = Enumerable.Range(0, 8).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            for (int repeat = 0; repeat < 5; repeat++)
            {
                concurrent[i * 10 + repeat] = session.Run(inputs[i], inputs[i].Length / session.InputLength);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.That(concurrent, Has.Count.EqualTo(40));
        foreach ((int key, VitOutput output) in concurrent)
        {
            VitOutput want = sequential[key / 10];
            Assert.That(output.Logits, Is.EqualTo(want.Logits).Within(1e-6), $"thread {key / 10}");
            Assert.That(output.Attentions.Data.ToArray(), Is.EqualTo(want.Attentions.Data.ToArray()).Within(1e-6));
        }
    }

    [Test]
    public void Constructor_CudaOnCpuPackage_ThrowsDeviceUnavailableSayingWhatToDo()
    {
        var options = Options with { Device = ExecutionDevice.Cuda };

        Assert.That(() => new VitSession(Model, options),
            Throws.TypeOf<DeviceUnavailableException>()
                .With.Message.Contains("CUDA was requested")
                .And.Message.Contains("CPU-only ONNX Runtime")
                .And.Message.Contains("VitAttention.Cuda")
                .And.Message.Contains("CUDA 13 and cuDNN 9")
                .And.Message.Contains("AllowCpuFallback"));
    }

    [Test]
    public void Constructor_CudaWithFallback_RunsOnCpuAndLogsWarning()
    {
        var log = new List<string>();
        var options = Options with { Device = ExecutionDevice.Cuda, AllowCpuFallback = true, Log = log.Add };

        using var session = new VitSession(Model, options);
        VitOutput output = session.Run(FixturePixels(), 2);

        Assert.That(session.ActualDevice, Is.EqualTo(ExecutionDevice.Cpu));
        Assert.That(log, Has.Count.EqualTo(1));
        Assert.That(log[0], Does.StartWith("CUDA was requested").And.Contain("running on the CPU"));
        Assert.That(output.Logits, Has.Length.EqualTo(10));
    }

    [Test]
    public void Constructor_Cpu_ReportsCpuAndLogsNothing()
    {
        var log = new List<string>();

        using var session = new VitSession(Model, Options with { Log = log.Add });

        Assert.That(session.ActualDevice, Is.EqualTo(ExecutionDevice.Cpu));
        Assert.That(log, Is.Empty);
    }

    [Test]
    public void Run_PreCancelledToken_ThrowsOperationCanceled()
    {
        using var session = new VitSession(Model, Options);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.That(() => session.Run(FixturePixels(), 2, cts.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void Run_CancelledWhileRunning_ThrowsOperationCanceledOrCompletes()
    {
        // Cancellation sets ORT's terminate flag; a run that was already past its last kernel completes normally.
        using var session = new VitSession(Model, Options);
        float[] pixels = RandomPixels(64, session.InputLength, seed: 9);
        int cancelled = 0;
        for (int i = 0; i < 5; i++)
        {
            using var cts = new CancellationTokenSource();
            cts.CancelAfter(1);
            try
            {
                VitOutput output = session.Run(pixels, 64, cts.Token);
                Assert.That(output.Batch, Is.EqualTo(64));
            }
            catch (OperationCanceledException e)
            {
                Assert.That(e.CancellationToken, Is.EqualTo(cts.Token));
                cancelled++;
            }
        }

        TestContext.Out.WriteLine($"{cancelled} of 5 runs were cancelled");
        Assert.That(session.Run(pixels.AsSpan(0, session.InputLength), 1).Batch, Is.EqualTo(1), "the session still works");
    }

    [TestCase(0, 0)]
    [TestCase(1, 3071)]
    [TestCase(1, 6144)]
    [TestCase(-1, 3072)]
    public void Run_WrongInputLengthOrBatch_ThrowsArgumentException(int batch, int length)
    {
        using var session = new VitSession(Model, Options);

        Assert.That(() => session.Run(new float[length], batch), Throws.ArgumentException);
    }

    [Test]
    public void Run_WrongInputLength_MessageNamesTheSizes()
    {
        using var session = new VitSession(Model, Options);

        Assert.That(() => session.Run(new float[100], 2),
            Throws.ArgumentException.With.Message.Contains("holds 100 floats").And.Message.Contains("needs 6144"));
    }

    [Test]
    public void Constructor_ConfigWithMoreClassesThanGraph_ThrowsModelFormat()
    {
        VitConfig wrong = Model.Config with { NumClasses = 6, Labels = [] };
        var model = new PreparedModel(wrong, Model.ReadOnnx(), Model.InputName, "mismatched.onnx");

        Assert.That(() => new VitSession(model, Options),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("mismatched.onnx")
                .And.Message.Contains("'logits' has shape [?, 5]").And.Message.Contains("[batch, 6]"));
    }

    [Test]
    public void Constructor_ConfigWithFewerLayersThanGraph_ThrowsModelFormat()
    {
        VitConfig wrong = Model.Config with { NumLayers = 2 };
        var model = new PreparedModel(wrong, Model.ReadOnnx(), Model.InputName, "two-layers.onnx");

        Assert.That(() => new VitSession(model, Options),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("more attention layers than its config's 2"));
    }

    [Test]
    public void Constructor_GraphWithoutAttentionOutputs_ThrowsModelFormatNamingTheOutput()
    {
        byte[] logitsOnly = File.ReadAllBytes(Path.Combine(FixturePaths.HfFolder, "model_logits_only.onnx"));
        var model = new PreparedModel(Model.Config, logitsOnly, "pixel_values", "model_logits_only.onnx");

        Assert.That(() => new VitSession(model, Options),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("no output named 'attentions.0'"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Run_GraphShapesDifferFromConfigAtRunTime_ThrowsModelFormatWithExpectedShapes(bool declareShapes)
    {
        // The graph computes its head count at run time, so only running it reveals 2 heads, not 4.
        byte[] onnx = TinyOnnx.Build(size: 8, classes: 5, layers: 2, heads: 0, tokens: 5, declareShapes);
        VitConfig config = InferenceTestData.TinyHf() with { ImageHeight = 8, ImageWidth = 8, PatchSize = 4, NumLayers = 2, Labels = [] };
        var model = new PreparedModel(config, onnx, "pixel_values", "two-heads.onnx");
        using var session = new VitSession(model, Options);

        Assert.That(() => session.Run(RandomPixels(1, session.InputLength, seed: 2), 1),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("two-heads.onnx")
                .And.Message.Contains("attentions.{l} [1, 4, 5, 5]"));
    }

    [Test]
    public void Constructor_GraphWithFewerHeadsThanConfig_ThrowsModelFormatNamingShapes()
    {
        // Here the head count is a constant: ONNX Runtime infers the output shape, and the check fails at load.
        byte[] onnx = TinyOnnx.Build(size: 8, classes: 5, layers: 2, heads: 2, tokens: 5, declareShapes: false);
        VitConfig config = InferenceTestData.TinyHf() with { ImageHeight = 8, ImageWidth = 8, PatchSize = 4, NumLayers = 2, Labels = [] };

        Assert.That(() => new VitSession(new PreparedModel(config, onnx, "pixel_values", "two-heads.onnx"), Options),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("two-heads.onnx")
                .And.Message.Contains("'attentions.0' has shape [?, 2, 5, 5], but the config implies [batch, 4, 5, 5]"));
    }

    [Test]
    public void Run_HandBuiltGraphWithUndeclaredShapes_MatchesFloat64Reference()
    {
        // Layer l's attention is softmax(reshape(flatten(x) · W_l)); recompute it in float64 from the graph's own
        // weights, read back out of the ONNX file, to check the binding of each layer to its slice of the stack.
        byte[] onnx = TinyOnnx.Build(size: 8, classes: 5, layers: 2, heads: 4, tokens: 5, declareShapes: false, seed: 4);
        VitConfig config = InferenceTestData.TinyHf() with { ImageHeight = 8, ImageWidth = 8, PatchSize = 4, NumLayers = 2, Labels = [] };
        using var session = new VitSession(new PreparedModel(config, onnx, "pixel_values", "tiny.onnx"), Options);
        float[] x = RandomPixels(2, session.InputLength, seed: 8);
        var graph = global::Onnx.ModelProto.Parser.ParseFrom(onnx).Graph;
        float[] Weights(string name) => System.Runtime.InteropServices.MemoryMarshal
            .Cast<byte, float>(graph.Initializer.Single(t => t.Name == name).RawData.Span).ToArray();

        VitOutput output = session.Run(x, 2);

        const int features = 192, n = 4 * 5 * 5;
        for (int l = 0; l < 2; l++)
        {
            float[] w = Weights($"w{l}"); // [features, heads · tokens · tokens]
            for (int b = 0; b < 2; b++)
            {
                ReadOnlySpan<float> layer = output.Attentions.Layer(l, b); // [head, query, key]
                for (int row = 0; row < n / 5; row++)
                {
                    var scores = new double[5];
                    for (int k = 0; k < 5; k++)
                    {
                        for (int f = 0; f < features; f++)
                        {
                            scores[k] += (double)x[b * features + f] * w[f * n + row * 5 + k];
                        }
                    }

                    double max = scores.Max(), sum = scores.Sum(v => Math.Exp(v - max));
                    for (int k = 0; k < 5; k++)
                    {
                        Assert.That(layer[row * 5 + k], Is.EqualTo(Math.Exp(scores[k] - max) / sum).Within(1e-5), $"layer {l}, item {b}, row {row}");
                    }
                }
            }
        }
    }

    [Test]
    public void Constructor_NotOnnx_ThrowsModelFormat()
    {
        var model = new PreparedModel(Model.Config, [1, 2, 3, 4, 5], "pixel_values", "garbage.onnx");

        Assert.That(() => new VitSession(model, Options),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("garbage.onnx"));
    }

    [Test]
    public void Run_AfterDispose_ThrowsObjectDisposed()
    {
        var session = new VitSession(Model, Options);
        session.Dispose();
        session.Dispose(); // twice is harmless

        Assert.That(() => session.Run(FixturePixels(), 2), Throws.TypeOf<ObjectDisposedException>());
    }

    private static float[] RandomPixels(int batch, int length, int seed)
    {
        var random = new Random(seed);
        var x = new float[batch * length]; // [batch, channel, height, width]
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return x;
    }
}
