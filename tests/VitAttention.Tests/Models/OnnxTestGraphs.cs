using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

/// <summary>Fixture ONNX files, graph edits that mimic other exporters, and a plain ORT runner for the exposer tests.</summary>
internal static class OnnxTestGraphs
{
    public const int Layers = 3;

    public static string FixtureOnnx(string fixture) => Path.Combine(FixturePaths.Folder(fixture), "model_logits_only.onnx");

    public static ModelProto LoadFixture(string fixture) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(FixtureOnnx(fixture)));

    /// <summary>pixel_values [2, 3, 32, 32] of the fixture's expected outputs.</summary>
    public static float[] Pixels(string fixture)
    {
        using var expected = SafeTensorsFile.Open(FixturePaths.Expected(fixture));
        return expected.ReadFloat32("pixel_values");
    }

    public static double[] Expected(string fixture, string name)
    {
        using var expected = SafeTensorsFile.Open(FixturePaths.Expected(fixture));
        return expected.ReadFloat64(name);
    }

    /// <summary>Runs the model on [batch, 3, 32, 32] pixels and returns the named outputs as float32 with their shapes.</summary>
    public static Dictionary<string, (float[] Data, long[] Shape)> Run(byte[] onnx, string input, float[] pixels, int batch, params string[] outputs)
    {
        using var session = new InferenceSession(onnx);
        using OrtValue x = OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, 32, 32]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [input], [x], outputs);
        var map = new Dictionary<string, (float[], long[])>();
        for (int i = 0; i < outputs.Length; i++)
        {
            map[outputs[i]] = (results[i].GetTensorDataAsSpan<float>().ToArray(), results[i].GetTensorTypeAndShape().Shape);
        }

        return map;
    }

    public static string[] AllOutputs() =>
        [PreparedModel.LogitsOutput, .. Enumerable.Range(0, Layers).Select(PreparedModel.AttentionOutput)];

    /// <summary>The fixture's Softmax nodes with the MatMul that consumes each (test code may use names and op types).</summary>
    public static List<(NodeProto Softmax, NodeProto MatMul)> Attention(ModelProto model)
    {
        var list = new List<(NodeProto, NodeProto)>();
        foreach (NodeProto s in model.Graph.Node.Where(n => n.OpType == "Softmax"))
        {
            NodeProto m = model.Graph.Node.Single(n => n.OpType == "MatMul" && n.Input[0] == s.Output[0]);
            list.Add((s, m));
        }

        return list;
    }

    public static void InsertAfter(GraphProto graph, NodeProto anchor, params NodeProto[] nodes)
    {
        int at = graph.Node.IndexOf(anchor) + 1;
        for (int i = 0; i < nodes.Length; i++)
        {
            graph.Node.Insert(at + i, nodes[i]);
        }
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, string domain = "", params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = "test_" + op + "_" + outputs[0], Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    public static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static TensorProto FloatScalar(string name, float value) =>
        new() { Name = name, DataType = (int)TensorProto.Types.DataType.Float, FloatData = { value } };

    public static TensorProto Uint8Scalar(string name, byte value) =>
        new() { Name = name, DataType = (int)TensorProto.Types.DataType.Uint8, Int32Data = { value } };

    public static ValueInfoProto FloatValue(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims)
        {
            shape.Dim.Add(d > 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "n" + shape.Dim.Count });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>A tiny runnable graph x [1, 4] → MatMul → Relu: valid ONNX with no Softmax at all.</summary>
    public static byte[] MatMulRelu()
    {
        var graph = new GraphProto { Name = "mlp" };
        graph.Input.Add(FloatValue("x", 0, 3, 4, 4));
        graph.Initializer.Add(new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 4, 2 }, FloatData = { 1, 2, 3, 4, 5, 6, 7, 8 } });
        graph.Node.Add(Node("MatMul", ["x", "w"], ["h"]));
        graph.Node.Add(Node("Relu", ["h"], ["y"]));
        graph.Output.Add(FloatValue("y", 0, 3, 4, 2));
        return Wrap(graph, 14).ToByteArray();
    }

    public static ModelProto Wrap(GraphProto graph, long opset, params (string Domain, long Version)[] more)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "vitattention-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        foreach ((string domain, long version) in more)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }

        return model;
    }

    /// <summary>
    /// The model in float16 throughout, as a float16 conversion tool writes it: float initializers and constants
    /// become float16, Casts to float cast to float16, and the graph's input and outputs are float16.
    /// </summary>
    public static ModelProto ToFloat16(ModelProto model)
    {
        static void Convert(TensorProto t)
        {
            if (t.DataType != (int)TensorProto.Types.DataType.Float)
            {
                return;
            }

            float[] values = t.RawData.Length > 0
                ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray()
                : [.. t.FloatData];
            var half = new Half[values.Length];
            for (int i = 0; i < values.Length; i++)
            {
                half[i] = (Half)values[i];
            }

            t.FloatData.Clear();
            t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(half.AsSpan()));
            t.DataType = (int)TensorProto.Types.DataType.Float16;
        }

        ModelProto copy = model.Clone();
        foreach (TensorProto t in copy.Graph.Initializer)
        {
            Convert(t);
        }

        foreach (NodeProto node in copy.Graph.Node)
        {
            foreach (AttributeProto a in node.Attribute)
            {
                if (a.T is not null)
                {
                    Convert(a.T);
                }

                if (node.OpType == "Cast" && a.Name == "to" && a.I == (long)TensorProto.Types.DataType.Float)
                {
                    a.I = (long)TensorProto.Types.DataType.Float16;
                }
            }
        }

        foreach (ValueInfoProto v in copy.Graph.Input.Concat(copy.Graph.Output))
        {
            v.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float16;
        }

        return copy;
    }

    public static void AssertClose(float[] actual, double[] expected, double tolerance, string what) =>
        NumericAssert.Close(actual, expected, tolerance, what);
}
