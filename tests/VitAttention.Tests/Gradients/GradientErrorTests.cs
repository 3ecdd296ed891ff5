using Microsoft.ML.OnnxRuntime;
using Onnx;
using VitAttention.Loading;
using VitAttention.Inference;
using VitAttention.Models;
using VitAttention.Onnx.Gradients;
using static VitAttention.Tests.Gradients.TinyGraph;

namespace VitAttention.Tests.Gradients;

/// <summary>Bad input to the differentiator and its runner: clear errors that name the op, the node or the value.</summary>
public sealed class GradientErrorTests
{
    private const int F64 = TensorValues.Double;

    [Test]
    public void Differentiate_UnsupportedOpOnPath_NamesOpAndNode()
    {
        var g = new TinyGraph(17, F64, 3, 4);
        byte[] onnx = g.Finish(g.Node("Mul", [g.Node("Abs", [X]), g.Random([4])]));

        var e = Assert.Throws<ModelFormatException>(() => TinyGraph.Differentiate(onnx, [3, 4]));
        Assert.That(e!.Message, Does.Contain("ai.onnx Abs").And.Contain("'Abs_0'"));
    }

    [Test]
    public void Differentiate_ContribOpOnPath_NamesDomain()
    {
        var g = new TinyGraph(17, TensorValues.Float, 3, 4);
        string gelu = g.Node("FastGelu", [X]);
        byte[] onnx = g.Finish(gelu);
        var model = ModelProto.Parser.ParseFrom(onnx);
        model.Graph.Node.First(n => n.OpType == "FastGelu").Domain = "com.microsoft";
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });

        var e = Assert.Throws<ModelFormatException>(() => TinyGraph.Differentiate(Google.Protobuf.MessageExtensions.ToByteArray(model), [3, 4]));
        Assert.That(e!.Message, Does.Contain("com.microsoft FastGelu").And.Contain("'FastGelu_0'"));
    }

    [Test]
    public void Differentiate_UnsupportedOpOffPath_IsIgnored()
    {
        // Abs feeds an extra output that never reaches the logits; the logits are 3·x.
        var g = new TinyGraph(17, F64, 4);
        g.Output(g.Node("Abs", [X]));
        byte[] onnx = g.Finish(g.Node("Mul", [X, g.Init([3.0])]));
        byte[] backward = TinyGraph.Differentiate(onnx, [4]);

        using var session = new InferenceSession(backward);
        double[] x = [0.5, -1, 2, 0.25, 1, 1, -3, 0.1];
        double[] gradient = Run(session, F64, x, [2, 4], [1, 3], "grad.x")[0];
        Assert.That(gradient, Is.EqualTo(new double[] { 0, 3, 0, 0, 0, 0, 0, 3 }));
    }

    [Test]
    public void Differentiate_SliceWithStep_NamesStepAndNode()
    {
        var g = new TinyGraph(13, F64, 6);
        byte[] onnx = g.Finish(g.Node("Slice", [g.Node("Exp", [X]), g.Int64([0]), g.Int64([6]), g.Int64([1]), g.Int64([2])]));

        var e = Assert.Throws<ModelFormatException>(() => TinyGraph.Differentiate(onnx, [6]));
        Assert.That(e!.Message, Does.Contain("step 2").And.Contain("'Slice_"));
    }

    [Test]
    public void Differentiate_PowWithImageExponent_Throws()
    {
        var g = new TinyGraph(14, F64, 4);
        byte[] onnx = g.Finish(g.Node("Pow", [g.Init([2.0]), X]));

        var e = Assert.Throws<ModelFormatException>(() => TinyGraph.Differentiate(onnx, [4]));
        Assert.That(e!.Message, Does.Contain("Pow whose exponent depends on the image"));
    }

    [Test]
    public void Differentiate_Opset10_SaysWhichOpsetsWork()
    {
        var g = new TinyGraph(10, F64, 4);
        byte[] onnx = g.Finish(g.Node("Exp", [X]));

        var e = Assert.Throws<ModelFormatException>(() => TinyGraph.Differentiate(onnx, [4]));
        Assert.That(e!.Message, Does.Contain("opset 10").And.Contain("11 to 22"));
    }

    [Test]
    public void Build_ModelWithoutClassifier_Throws()
    {
        VitConfig config = VitConfigLoader.FromFolder(FixturePaths.TimmFolder) with { NumClasses = 0, Labels = [] };
        var model = new PreparedModel(config, VitOnnxBuilder.Build(config, VitWeights.Random(config, 3)), VitOnnxBuilder.InputName, "backbone");

        var e = Assert.Throws<ModelFormatException>(() => GradientGraph.Build(model));
        Assert.That(e!.Message, Does.Contain("backbone").And.Contain("no classifier"));
    }

    [Test]
    public void Build_GraphWithoutAttentionOutputs_Throws()
    {
        VitConfig config = VitConfigLoader.FromFolder(FixturePaths.TimmFolder);
        byte[] logitsOnly = VitOnnxBuilder.Build(config, VitWeights.Load(FixturePaths.TimmFolder, config), includeAttentions: false);
        var model = new PreparedModel(config, logitsOnly, VitOnnxBuilder.InputName, "logits-only.onnx");

        var e = Assert.Throws<ModelFormatException>(() => GradientGraph.Build(model));
        Assert.That(e!.Message, Does.Contain("no 'attentions.0' output"));
    }

    [TestCase(5)]
    [TestCase(-1)]
    public void Run_TargetOutOfRange_NamesClassAndRange(int target)
    {
        using var session = new GradientSession(CheckpointLoader.Prepare(FixturePaths.TimmFolder));
        var pixels = new float[2 * 3 * 32 * 32];

        var e = Assert.Throws<ArgumentException>(() => session.Run(pixels, 2, [0, target]));
        Assert.That(e!.Message, Does.Contain($"Target class {target} of image 1").And.Contain("0..4"));
    }

    [Test]
    public void Run_TargetCountDiffersFromBatch_Throws()
    {
        using var session = new GradientSession(CheckpointLoader.Prepare(FixturePaths.TimmFolder));
        var pixels = new float[2 * 3 * 32 * 32];

        var e = Assert.Throws<ArgumentException>(() => session.Run(pixels, 2, [0]));
        Assert.That(e!.Message, Does.Contain("2 images, 1 targets"));
    }
}
