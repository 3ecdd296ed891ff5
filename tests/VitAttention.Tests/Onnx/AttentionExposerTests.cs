using Google.Protobuf;
using Onnx;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Onnx;
using VitAttention.Tests.Models;
using static VitAttention.Tests.Models.OnnxTestGraphs;

namespace VitAttention.Tests.Onnx;

public class AttentionExposerTests
{
    private static readonly string[] Fixtures = ["tiny-vit-hf", "tiny-vit-timm"];

    private static void AssertMatchesReference(byte[] onnx, string fixture, string input = "pixel_values")
    {
        var outputs = Run(onnx, input, Pixels(fixture), 2, AllOutputs());
        AssertClose(outputs[PreparedModel.LogitsOutput].Data, Expected(fixture, "logits"), 1e-4, "logits");
        for (int l = 0; l < Layers; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            Assert.That(outputs[name].Shape, Is.EqualTo(new long[] { 2, 4, 17, 17 }), name);
            AssertClose(outputs[name].Data, Expected(fixture, name), 1e-5, name);
        }
    }

    private static string Message(byte[] onnx, string source = "bad.onnx", ExposeOptions? options = null) =>
        Assert.Throws<ModelFormatException>(() => AttentionExposer.Expose(onnx, source, options))!.Message;

    [TestCaseSource(nameof(Fixtures))]
    public void Expose_LogitsOnlyFixture_AttentionsAndLogitsMatchPyTorch(string fixture)
    {
        ExposedOnnx exposed = AttentionExposer.Expose(File.ReadAllBytes(FixtureOnnx(fixture)), fixture);

        AssertMatchesReference(exposed.Onnx, fixture);
        Assert.That(exposed.InputName, Is.EqualTo("pixel_values"));
        Assert.That((exposed.InputHeight, exposed.InputWidth, exposed.Channels), Is.EqualTo(((int?)32, (int?)32, 3)));
        Assert.That((exposed.Layers, exposed.Heads, exposed.Tokens, exposed.HeadDim), Is.EqualTo((3, 4, 17, 12)));
        Assert.That((exposed.NumClasses, exposed.PatchSize), Is.EqualTo((5, (int?)8)));
        Assert.That(exposed.LogitsSource, Is.EqualTo("logits"));
        Assert.That(exposed.AlreadyExposed, Is.False);
    }

    [TestCaseSource(nameof(Fixtures))]
    public void Expose_BatchOfTwo_EqualsTwoSingleRuns(string fixture)
    {
        byte[] onnx = AttentionExposer.Expose(File.ReadAllBytes(FixtureOnnx(fixture)), fixture).Onnx;
        float[] pixels = Pixels(fixture);
        int item = pixels.Length / 2;
        var both = Run(onnx, "pixel_values", pixels, 2, AllOutputs());
        for (int b = 0; b < 2; b++)
        {
            var single = Run(onnx, "pixel_values", pixels[(b * item)..((b + 1) * item)], 1, AllOutputs());
            foreach (string name in AllOutputs())
            {
                float[] all = both[name].Data;
                int half = all.Length / 2;
                double[] slice = [.. all[(b * half)..((b + 1) * half)].Select(v => (double)v)];
                AssertClose(single[name].Data, slice, 1e-6, $"{name} item {b}");
            }
        }
    }

    [Test]
    public void Expose_Fixture_DeclaresFloatOutputsWithSymbolicBatchAndKeepsOriginals()
    {
        ModelProto original = LoadFixture("tiny-vit-hf");
        ModelProto model = ModelProto.Parser.ParseFrom(AttentionExposer.Expose(original.ToByteArray(), "hf").Onnx);

        Assert.That(model.Graph.Output.Select(o => o.Name),
            Is.EqualTo(new[] { "logits", "attentions.0", "attentions.1", "attentions.2" }));
        foreach (ValueInfoProto o in model.Graph.Output.Skip(1))
        {
            var t = o.Type.TensorType;
            Assert.That(t.ElemType, Is.EqualTo((int)TensorProto.Types.DataType.Float));
            Assert.That(t.Shape.Dim[0].DimParam, Is.EqualTo("batch_size"));
            Assert.That(t.Shape.Dim.Skip(1).Select(d => d.DimValue), Is.EqualTo(new long[] { 4, 17, 17 }));
        }

        Assert.That(model.Graph.Node, Has.Count.EqualTo(original.Graph.Node.Count + 3));
    }

    [Test]
    public void Expose_AlreadyExposed_ReturnsSameOutputs()
    {
        byte[] once = AttentionExposer.Expose(File.ReadAllBytes(FixtureOnnx("tiny-vit-hf")), "hf").Onnx;
        ExposedOnnx twice = AttentionExposer.Expose(once, "hf-prepared");

        Assert.That(twice.AlreadyExposed, Is.True);
        Assert.That(ModelProto.Parser.ParseFrom(twice.Onnx).Graph.Output, Has.Count.EqualTo(1 + Layers));
        AssertMatchesReference(twice.Onnx, "tiny-vit-hf");
    }

    [Test]
    public void Expose_NodeListReversed_OrdersLayersByDepthNotPosition()
    {
        // ONNX Runtime sorts the graph itself; the exposer must not rely on the node list order either.
        ModelProto model = LoadFixture("tiny-vit-hf");
        var reversed = model.Graph.Node.Reverse().ToList();
        model.Graph.Node.Clear();
        model.Graph.Node.AddRange(reversed);

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "reversed.onnx");

        Assert.That(exposed.AttentionSources, Is.EqualTo(new[] { "/layer.0/Softmax_output_0", "/layer.1/Softmax_output_0", "/layer.2/Softmax_output_0" }));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-hf");
    }

    [Test]
    public void Expose_GraphBuiltWithAttentionOutputs_RecognisedAsAlreadyExposed()
    {
        // VitOnnxBuilder names each Softmax output attentions.{l} itself.
        PreparedModel built = CheckpointLoader.Prepare(FixturePaths.HfFolder);

        ExposedOnnx exposed = AttentionExposer.Expose(built.ReadOnnx(), "built.onnx");

        Assert.That(exposed.AlreadyExposed, Is.True);
        Assert.That(exposed.AttentionSources, Is.EqualTo(new[] { "attentions.0", "attentions.1", "attentions.2" }));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-hf", built.InputName);
    }

    [Test]
    public void Expose_GraphBuiltWithLogitsOnly_FindsTheBuildersSoftmaxes()
    {
        // A second, independent graph layout (fused qkv split by Gather, scale by Mul) for the same network.
        var config = VitConfigLoader.FromFolder(FixturePaths.TimmFolder);
        byte[] logitsOnly = VitOnnxBuilder.Build(config, VitWeights.Load(FixturePaths.TimmFolder, config), includeAttentions: false);

        ExposedOnnx exposed = AttentionExposer.Expose(logitsOnly, "built-logits-only.onnx");

        Assert.That((exposed.Layers, exposed.Heads, exposed.Tokens, exposed.AlreadyExposed), Is.EqualTo((3, 4, 17, false)));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-timm", exposed.InputName);
    }

    [Test]
    public void Expose_OutputNotNamedLogits_AddsLogitsAlias()
    {
        ModelProto model = LoadFixture("tiny-vit-timm");
        NodeProto head = model.Graph.Node.Single(n => n.Output.Contains("logits"));
        head.Output[0] = "output_0";
        model.Graph.Output[0].Name = "output_0";

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "torch-export.onnx");

        Assert.That(exposed.LogitsSource, Is.EqualTo("output_0"));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-timm");
    }

    [Test]
    public void Expose_CastIdentityDropoutBeforeMatMul_StillFound()
    {
        ModelProto model = LoadFixture("tiny-vit-hf");
        foreach ((NodeProto softmax, NodeProto matmul) in Attention(model))
        {
            string p = softmax.Output[0];
            InsertAfter(model.Graph, softmax,
                Node("Identity", [p], [p + "_id"]),
                Node("Dropout", [p + "_id"], [p + "_drop"]),
                Node("Cast", [p + "_drop"], [p + "_cast"], "", IntAttribute("to", (long)TensorProto.Types.DataType.Float)));
            matmul.Input[0] = p + "_cast";
        }

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "passthrough.onnx");

        Assert.That(exposed.Layers, Is.EqualTo(3));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-hf");
    }

    [Test]
    public void Expose_SoftmaxAxisThree_AcceptedAsLastAxis()
    {
        ModelProto model = LoadFixture("tiny-vit-hf");
        foreach ((NodeProto softmax, _) in Attention(model))
        {
            softmax.Attribute.Single(a => a.Name == "axis").I = 3;
        }

        AssertMatchesReference(AttentionExposer.Expose(model.ToByteArray(), "axis3.onnx").Onnx, "tiny-vit-hf");
    }

    [Test]
    public void Expose_SoftmaxOverHeadsAxis_RefusedWithReason()
    {
        ModelProto model = LoadFixture("tiny-vit-hf");
        foreach ((NodeProto softmax, _) in Attention(model))
        {
            softmax.Attribute.Single(a => a.Name == "axis").I = 1;
        }

        string message = Message(model.ToByteArray(), "axis1.onnx");

        Assert.That(message, Does.StartWith("axis1.onnx: no attention softmax found"));
        Assert.That(message, Does.Contain("normalises over axis 1 of a rank-4 tensor, not the last axis"));
    }

    [Test]
    public void Expose_WindowedAttention_RefusedAsSwinLike()
    {
        // Swin-style: the leading dimension is batch × windows, not the batch (here 2 "windows" of 2 heads each).
        ModelProto model = LoadFixture("tiny-vit-hf");
        model.Graph.Initializer.Add(new TensorProto { Name = "test_windows", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 4 }, Int64Data = { -1, 2, 17, 17 } });
        model.Graph.Initializer.Add(new TensorProto { Name = "test_heads", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 4 }, Int64Data = { -1, 4, 17, 17 } });
        foreach ((NodeProto softmax, NodeProto matmul) in Attention(model))
        {
            string scores = softmax.Input[0];
            string p = softmax.Output[0];
            softmax.Input[0] = scores + "_windows";
            model.Graph.Node.Insert(model.Graph.Node.IndexOf(softmax), Node("Reshape", [scores, "test_windows"], [scores + "_windows"]));
            InsertAfter(model.Graph, softmax, Node("Reshape", [p, "test_heads"], [p + "_heads"]));
            matmul.Input[0] = p + "_heads";
        }

        string message = Message(model.ToByteArray(), "swin.onnx");

        Assert.That(message, Does.StartWith("swin.onnx: softmax '/layer.0/Softmax': its first dimension 2 is not the batch (1)"));
        Assert.That(message, Does.Contain("windowed attention (Swin-like models) is not supported"));
    }

    [Test]
    public void Expose_SoftmaxOnFlattenedScores_ExposedAfterReshapeBack()
    {
        // Old-opset style: scores [b, h, n, n] → Flatten to [b·h·n, n] → Softmax(axis 1) → Reshape back → MatMul.
        ModelProto model = LoadFixture("tiny-vit-hf");
        foreach ((NodeProto softmax, NodeProto matmul) in Attention(model))
        {
            string scores = softmax.Input[0];
            string p = softmax.Output[0];
            softmax.Input[0] = scores + "_2d";
            softmax.Attribute.Single(a => a.Name == "axis").I = 1;
            int at = model.Graph.Node.IndexOf(softmax);
            model.Graph.Node.Insert(at, Node("Flatten", [scores], [scores + "_2d"], "", IntAttribute("axis", 3)));
            model.Graph.Node.Insert(at, Node("Shape", [scores], [scores + "_shape"]));
            InsertAfter(model.Graph, softmax, Node("Reshape", [p, scores + "_shape"], [p + "_4d"]));
            matmul.Input[0] = p + "_4d";
        }

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "flattened.onnx");

        Assert.That(exposed.AttentionSources, Has.All.EndsWith("_4d"));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-hf");
    }

    [Test]
    public void Expose_QuantizeDequantizeBetweenSoftmaxAndMatMul_ExposesFloatProbabilities()
    {
        // QDQ quantization (onnxruntime's static quantizer, QDQ format) around the P·V MatMul.
        ModelProto model = LoadFixture("tiny-vit-hf");
        model.Graph.Initializer.Add(FloatScalar("test_p_scale", 1f / 255f));
        model.Graph.Initializer.Add(Uint8Scalar("test_p_zero", 0));
        foreach ((NodeProto softmax, NodeProto matmul) in Attention(model))
        {
            string p = softmax.Output[0];
            InsertAfter(model.Graph, softmax,
                Node("QuantizeLinear", [p, "test_p_scale", "test_p_zero"], [p + "_q"]),
                Node("DequantizeLinear", [p + "_q", "test_p_scale", "test_p_zero"], [p + "_dq"]));
            matmul.Input[0] = p + "_dq";
        }

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "qdq.onnx");

        AssertMatchesQuantizedGraph(model, exposed);
    }

    // Layer 0 sees float inputs, so it matches PyTorch; later layers see quantized P·V, so the oracle is the quantized
    // graph's own Softmax outputs, made outputs here by name (independently of the exposer's structural search).
    private static void AssertMatchesQuantizedGraph(ModelProto quantized, ExposedOnnx exposed)
    {
        var softmaxes = quantized.Graph.Node.Where(n => n.OpType == "Softmax").Select(n => n.Output[0]).ToArray();
        foreach (string name in softmaxes)
        {
            quantized.Graph.Output.Add(new ValueInfoProto { Name = name });
        }

        float[] pixels = Pixels("tiny-vit-hf");
        var oracle = Run(quantized.ToByteArray(), "pixel_values", pixels, 2, softmaxes);
        var outputs = Run(exposed.Onnx, "pixel_values", pixels, 2, AllOutputs());
        AssertClose(outputs["attentions.0"].Data, Expected("tiny-vit-hf", "attentions.0"), 1e-5, "attentions.0 vs PyTorch");
        for (int l = 0; l < Layers; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            AssertClose(outputs[name].Data, [.. oracle[softmaxes[l]].Data.Select(v => (double)v)], 0, name + " vs the quantized graph");
        }

        Assert.That(outputs["logits"].Shape, Is.EqualTo(new long[] { 2, 5 }));
    }

    [Test]
    public void Expose_DynamicQuantizedMatMulInteger_ExposesFloatProbabilities()
    {
        // onnxruntime's dynamic quantizer: DynamicQuantizeLinear on both operands, MatMulInteger, rescale.
        ModelProto model = LoadFixture("tiny-vit-hf");
        foreach ((NodeProto softmax, NodeProto matmul) in Attention(model))
        {
            string p = softmax.Output[0];
            string v = matmul.Input[1];
            string o = matmul.Output[0];
            int at = model.Graph.Node.IndexOf(matmul);
            model.Graph.Node.RemoveAt(at);
            NodeProto[] replacement =
            [
                Node("DynamicQuantizeLinear", [p], [p + "_q", p + "_s", p + "_z"]),
                Node("DynamicQuantizeLinear", [v], [v + "_q", v + "_s", v + "_z"]),
                Node("MatMulInteger", [p + "_q", v + "_q", p + "_z", v + "_z"], [o + "_i32"]),
                Node("Cast", [o + "_i32"], [o + "_f"], "", IntAttribute("to", (long)TensorProto.Types.DataType.Float)),
                Node("Mul", [p + "_s", v + "_s"], [o + "_scale"]),
                Node("Mul", [o + "_f", o + "_scale"], [o]),
            ];
            for (int i = 0; i < replacement.Length; i++)
            {
                model.Graph.Node.Insert(at + i, replacement[i]);
            }
        }

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "dynamic-int8.onnx");

        Assert.That(exposed.Layers, Is.EqualTo(3));
        AssertMatchesQuantizedGraph(model, exposed);
    }

    [Test]
    public void Expose_QLinearSoftmax_DequantizedIntoFloatOutputs()
    {
        // onnxruntime's static QOperator format: the softmax itself runs on uint8 (com.microsoft QLinearSoftmax).
        ModelProto model = LoadFixture("tiny-vit-hf");
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        model.Graph.Initializer.Add(FloatScalar("test_x_scale", 0.1f));
        model.Graph.Initializer.Add(Uint8Scalar("test_x_zero", 128));
        model.Graph.Initializer.Add(FloatScalar("test_y_scale", 1f / 256f));
        model.Graph.Initializer.Add(Uint8Scalar("test_y_zero", 0));
        var dequantized = new List<string>();
        foreach ((NodeProto softmax, _) in Attention(model))
        {
            string scores = softmax.Input[0];
            string p = softmax.Output[0];
            int at = model.Graph.Node.IndexOf(softmax);
            model.Graph.Node.RemoveAt(at);
            model.Graph.Node.Insert(at, Node("QuantizeLinear", [scores, "test_x_scale", "test_x_zero"], [scores + "_q"]));
            model.Graph.Node.Insert(at + 1, Node("QLinearSoftmax", [scores + "_q", "test_x_scale", "test_x_zero", "test_y_scale", "test_y_zero"],
                [p + "_q"], "com.microsoft", IntAttribute("axis", -1), IntAttribute("opset", 13)));
            model.Graph.Node.Insert(at + 2, Node("DequantizeLinear", [p + "_q", "test_y_scale", "test_y_zero"], [p]));
            dequantized.Add(p);
        }

        ExposedOnnx exposed = AttentionExposer.Expose(model.ToByteArray(), "qlinear.onnx");

        Assert.That(exposed.AttentionSources, Has.All.EndsWith("_q"));
        foreach (string name in dequantized)
        {
            model.Graph.Output.Add(new ValueInfoProto { Name = name });
        }

        float[] pixels = Pixels("tiny-vit-hf");
        var oracle = Run(model.ToByteArray(), "pixel_values", pixels, 2, [.. dequantized]);
        var outputs = Run(exposed.Onnx, "pixel_values", pixels, 2, AllOutputs());
        for (int l = 0; l < Layers; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            AssertClose(outputs[name].Data, [.. oracle[dequantized[l]].Data.Select(v => (double)v)], 0, name);
        }

        // Layer 0 sees float inputs: within the quantisation steps (0.1 on scores, 1/256 on probabilities) of PyTorch.
        AssertClose(outputs["attentions.0"].Data, Expected("tiny-vit-hf", "attentions.0"), 0.05, "attentions.0 vs PyTorch");
    }

    [Test]
    public void Expose_Float16Model_TakesFloat32InputAndGivesFloat32Outputs()
    {
        // transformers.js ships onnx/model_fp16.onnx: float16 input, weights, softmax and logits.
        ModelProto half = ToFloat16(LoadFixture("tiny-vit-hf"));

        ExposedOnnx exposed = AttentionExposer.Expose(half.ToByteArray(), "model_fp16.onnx");

        Assert.That((exposed.LogitsSource, exposed.PatchSize), Is.EqualTo(("logits_float16", (int?)8)));
        ModelProto model = ModelProto.Parser.ParseFrom(exposed.Onnx);
        Assert.That(model.Graph.Input[0].Type.TensorType.ElemType, Is.EqualTo((int)TensorProto.Types.DataType.Float));
        var outputs = Run(exposed.Onnx, "pixel_values", Pixels("tiny-vit-hf"), 2, AllOutputs());
        // float16 carries ~3 decimal digits: the network in float16 stays within a few thousandths of float64.
        AssertClose(outputs["logits"].Data, Expected("tiny-vit-hf", "logits"), 2e-2, "logits");
        for (int l = 0; l < Layers; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            AssertClose(outputs[name].Data, Expected("tiny-vit-hf", name), 5e-3, name);
        }
    }

    [Test]
    public void Expose_SymbolicInputSize_NeedsSizeThenWorksWithIt()
    {
        ModelProto model = LoadFixture("tiny-vit-hf");
        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        dims[2] = new TensorShapeProto.Types.Dimension { DimParam = "height" };
        dims[3] = new TensorShapeProto.Types.Dimension { DimParam = "width" };
        byte[] bytes = model.ToByteArray();

        Assert.That(Message(bytes, "optimum.onnx"), Does.Contain("symbolic height and width").And.Contain("config.json"));

        ExposedOnnx exposed = AttentionExposer.Expose(bytes, "optimum.onnx", new ExposeOptions { ImageHeight = 32, ImageWidth = 32 });
        Assert.That((exposed.InputHeight, exposed.ProbeHeight, exposed.Tokens), Is.EqualTo(((int?)null, 32, 17)));
        AssertMatchesReference(exposed.Onnx, "tiny-vit-hf");
    }

    [Test]
    public void Expose_ExternalData_RefusedFromBytesReadFromFolder()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            ModelProto model = LoadFixture("tiny-vit-hf");
            TensorProto weight = model.Graph.Initializer.Single(t => t.Name == "classifier.weight");
            File.WriteAllBytes(Path.Combine(folder, "model.onnx_data"), [.. new byte[64], .. weight.RawData.ToByteArray()]);
            weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "model.onnx_data" });
            weight.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "64" });
            weight.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = weight.RawData.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            weight.RawData = ByteString.Empty;
            weight.DataLocation = TensorProto.Types.DataLocation.External;
            byte[] bytes = model.ToByteArray();

            Assert.That(Message(bytes, "external.onnx"), Does.Contain("external data").And.Contain("classifier.weight"));

            ExposedOnnx exposed = AttentionExposer.Expose(bytes, "external.onnx", new ExposeOptions { ExternalDataFolder = folder });
            AssertMatchesReference(exposed.Onnx, "tiny-vit-hf");

            weight.ExternalData[0].Value = "../outside.bin";
            Assert.That(Message(model.ToByteArray(), "external.onnx", new ExposeOptions { ExternalDataFolder = folder }),
                Does.Contain("outside the model's folder"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Expose_NoSoftmax_SaysNotAViT()
    {
        string message = Message(MatMulRelu(), "mlp.onnx");

        Assert.That(message, Does.StartWith("mlp.onnx: no attention softmax found: not a ViT, or attention was fused"));
    }

    [TestCase("com.microsoft", "Attention")]
    [TestCase("com.microsoft", "MultiHeadAttention")]
    [TestCase("com.microsoft", "PackedAttention")]
    [TestCase("com.microsoft", "GroupQueryAttention")]
    public void Expose_FusedAttention_SaysFusedAndHowToExportUnfused(string domain, string op)
    {
        var graph = new GraphProto { Name = "fused" };
        graph.Input.Add(FloatValue("pixel_values", 0, 3, 32, 32));
        graph.Node.Add(Node("Flatten", ["pixel_values"], ["x"]));
        graph.Node.Add(Node(op, ["x", "w", "b"], ["y"], domain));
        graph.Output.Add(FloatValue("y", 0, 48));
        byte[] bytes = Wrap(graph, 14, (domain, 1)).ToByteArray();

        string message = Message(bytes, "optimized.onnx");

        Assert.That(message, Does.StartWith($"optimized.onnx: the export fused attention into 1 {domain} {op} node(s)"));
        Assert.That(message, Does.Contain("hides the attention probabilities"));
        Assert.That(message, Does.Contain("optimum-cli export onnx --model <model id> --task image-classification").And.Contain("no `--optimize`"));
        Assert.That(message, Does.Contain("attn_implementation=\"eager\""));
    }

    [Test]
    public void Expose_ChannelsLastInput_SaysChannelsFirstNeeded()
    {
        var graph = new GraphProto { Name = "nhwc" };
        graph.Input.Add(FloatValue("image", 0, 32, 32, 3));
        graph.Node.Add(Node("Softmax", ["image"], ["p"]));
        graph.Node.Add(Node("MatMul", ["p", "image"], ["y"]));
        graph.Output.Add(FloatValue("y", 0, 32, 32, 3));

        string message = Message(Wrap(graph, 14).ToByteArray(), "tf.onnx");

        Assert.That(message, Does.StartWith("tf.onnx: input 'image' is [batch, 32, 32, 3], channels last"));
    }

    [Test]
    public void Expose_TwoInputs_SaysNotAnImageClassifier()
    {
        var graph = new GraphProto { Name = "two" };
        graph.Input.Add(FloatValue("pixel_values", 0, 3, 32, 32));
        graph.Input.Add(FloatValue("mask", 0, 17));
        graph.Node.Add(Node("Softmax", ["pixel_values"], ["y"]));
        graph.Output.Add(FloatValue("y", 0, 3, 32, 32));

        string message = Message(Wrap(graph, 14).ToByteArray(), "two.onnx");

        Assert.That(message, Does.StartWith("two.onnx: expected one image input [batch, channels, height, width], found 2 graph inputs (pixel_values, mask)"));
    }

    [Test]
    public void Expose_EmptyBytes_SaysEmptyNotOnnx()
    {
        Assert.That(Message([], "empty.onnx"), Does.StartWith("empty.onnx: not an ONNX model (the file is empty, 0 bytes)"));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    public void Expose_RandomBytes_SaysNotOnnx(int seed)
    {
        var bytes = new byte[4096];
        new Random(seed).NextBytes(bytes);

        Assert.That(Message(bytes, "random.onnx"), Does.StartWith("random.onnx: not an ONNX model"));
    }

    [TestCase(0.5)]
    [TestCase(0.01)]
    [TestCase(0.999)]
    public void Expose_TruncatedFixture_SaysNotOnnxMaybeTruncated(double fraction)
    {
        byte[] full = File.ReadAllBytes(FixtureOnnx("tiny-vit-hf"));
        byte[] cut = full[..(int)(full.Length * fraction)];

        string message = Message(cut, "cut.onnx");

        Assert.That(message, Does.StartWith("cut.onnx: not an ONNX model"));
        Assert.That(message, Does.Contain("truncated"));
    }
}
