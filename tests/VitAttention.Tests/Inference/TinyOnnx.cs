using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Tests.Inference;

/// <summary>
/// Hand-built ONNX graphs with the PreparedModel output names, to exercise the session on graphs the builder would
/// never make: attention outputs computed as softmax(reshape(flatten(x) · W)), with undeclared or symbolic shapes.
/// </summary>
internal static class TinyOnnx
{
    /// <summary>
    /// A graph over [batch, 3, size, size] whose <c>logits</c> are flatten(x) · Wc ([batch, classes]) and whose
    /// <c>attentions.{l}</c> are softmax over the last axis of reshape(flatten(x) · W_l, [batch, heads, tokens, tokens]).
    /// </summary>
    /// <param name="heads">Heads per layer; 0 makes the graph compute them at run time (as 2).</param>
    /// <param name="declareShapes">False declares the outputs' element type only; true declares symbolic dims.</param>
    public static byte[] Build(int size, int classes, int layers, int heads, int tokens, bool declareShapes, int seed = 1)
    {
        var random = new Random(seed);
        var graph = new GraphProto { Name = "tiny" };
        int features = 3 * size * size;
        graph.Input.Add(Value("pixel_values", declare: true, "batch", 3, size, size));
        graph.Node.Add(Node("Flatten", ["pixel_values"], "flat", new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Initializer.Add(Floats("wc", RandomFloats(random, features * classes), features, classes));
        graph.Node.Add(Node("MatMul", ["flat", "wc"], "logits"));
        graph.Output.Add(Value("logits", declareShapes, "batch", "classes"));
        if (heads > 0)
        {
            graph.Initializer.Add(Int64s("attn_shape", -1, heads, tokens, tokens));
        }
        else
        {
            // Heads computed at run time as channels − 1 = 2, so that no shape inference can know them in advance.
            heads = 2;
            graph.Initializer.Add(Int64s("index1", 1));
            graph.Initializer.Add(Int64s("one", 1));
            graph.Initializer.Add(Int64s("minus1", -1));
            graph.Initializer.Add(Int64s("tokens", tokens));
            graph.Node.Add(Node("Shape", ["pixel_values"], "input_shape"));
            graph.Node.Add(Node("Gather", ["input_shape", "index1"], "channels"));
            graph.Node.Add(Node("Sub", ["channels", "one"], "heads"));
            graph.Node.Add(Node("Concat", ["minus1", "heads", "tokens", "tokens"], "attn_shape",
                new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 }));
        }

        for (int l = 0; l < layers; l++)
        {
            int n = heads * tokens * tokens;
            graph.Initializer.Add(Floats($"w{l}", RandomFloats(random, features * n), features, n));
            graph.Node.Add(Node("MatMul", ["flat", $"w{l}"], $"scores{l}"));
            graph.Node.Add(Node("Reshape", [$"scores{l}", "attn_shape"], $"scores4d{l}"));
            graph.Node.Add(Node("Softmax", [$"scores4d{l}"], $"attentions.{l}",
                new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 }));
            graph.Output.Add(Value($"attentions.{l}", declareShapes, "batch", "heads", "tokens", "tokens"));
        }

        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "VitAttention.Tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();
    }

    private static float[] RandomFloats(Random random, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
        }

        return x;
    }

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = output + "_node" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static TensorProto Int64s(string name, params long[] data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())) };
        t.Dims.Add(data.Length);
        return t;
    }

    private static TensorProto Floats(string name, float[] data, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>A float32 value; dims are ints (fixed) or strings (symbolic); no shape at all when not declared.</summary>
    private static ValueInfoProto Value(string name, bool declare, params object[] dims)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float };
        if (declare)
        {
            var shape = new TensorShapeProto();
            foreach (object d in dims)
            {
                shape.Dim.Add(d is int v
                    ? new TensorShapeProto.Types.Dimension { DimValue = v }
                    : new TensorShapeProto.Types.Dimension { DimParam = (string)d });
            }

            tensor.Shape = shape;
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
