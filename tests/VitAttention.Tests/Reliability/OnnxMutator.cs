using Google.Protobuf;
using Onnx;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// Graph-level edits of an ONNX model that still parse as protobuf, so they reach the exposer's graph analysis and
/// ONNX Runtime (byte edits mostly stop at the protobuf parser): change an initializer's dims, data type or raw
/// bytes, an attribute's value, a node's operator or input, remove or duplicate a node, change the input's shape or
/// element type, the opset, or the outputs.
/// </summary>
internal static class OnnxMutator
{
    private static readonly long[] Dims = [0, 1, -1, 2, 3, 4, 17, 48, 1 << 20, int.MaxValue, long.MaxValue];
    private static readonly string[] Ops =
        ["Softmax", "MatMul", "Relu", "Add", "Identity", "Transpose", "Reshape", "Gather", "Attention", "MultiHeadAttention", "LayerNormalization", "Bogus"];

    /// <summary>Applies 1 to 3 graph edits chosen by <paramref name="rng"/>; returns their descriptions.</summary>
    public static byte[] Mutate(byte[] onnx, Random rng, List<string> steps)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(onnx);
        GraphProto graph = model.Graph;
        int edits = 1 + rng.Next(3);
        for (int e = 0; e < edits; e++)
        {
            steps.Add(Edit(model, graph, rng));
        }

        return model.ToByteArray();
    }

    private static string Edit(ModelProto model, GraphProto graph, Random rng)
    {
        switch (rng.Next(11))
        {
            case 0 when graph.Initializer.Count > 0:
            {
                TensorProto t = graph.Initializer[rng.Next(graph.Initializer.Count)];
                if (t.Dims.Count == 0 || rng.Next(4) == 0)
                {
                    long d = Dims[rng.Next(Dims.Length)];
                    t.Dims.Add(d);
                    return $"initializer {t.Name}: append dim {d}";
                }

                int k = rng.Next(t.Dims.Count);
                long value = Dims[rng.Next(Dims.Length)];
                t.Dims[k] = value;
                return $"initializer {t.Name}: dim {k} -> {value}";
            }

            case 1 when graph.Initializer.Count > 0:
            {
                TensorProto t = graph.Initializer[rng.Next(graph.Initializer.Count)];
                int type = new[] { 0, 1, 2, 6, 7, 9, 10, 11, 16, 99 }[rng.Next(10)];
                t.DataType = type;
                return $"initializer {t.Name}: data type -> {type}";
            }

            case 2 when graph.Initializer.Count > 0:
            {
                TensorProto t = graph.Initializer[rng.Next(graph.Initializer.Count)];
                byte[] raw = t.RawData.ToByteArray();
                int keep = raw.Length == 0 ? 0 : rng.Next(raw.Length);
                if (rng.Next(2) == 0)
                {
                    t.RawData = ByteString.CopyFrom(raw.AsSpan(0, keep));
                    return $"initializer {t.Name}: raw data truncated {raw.Length} -> {keep}";
                }

                var bigger = new byte[raw.Length + 4 + rng.Next(64)];
                rng.NextBytes(bigger);
                raw.CopyTo(bigger, 0);
                t.RawData = ByteString.CopyFrom(bigger);
                return $"initializer {t.Name}: raw data grown {raw.Length} -> {bigger.Length}";
            }

            case 3 when graph.Node.Count > 0:
            {
                NodeProto node = graph.Node[rng.Next(graph.Node.Count)];
                if (node.Attribute.Count == 0)
                {
                    node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = rng.Next(-5, 6) });
                    return $"node {node.Name} ({node.OpType}): add axis attribute";
                }

                AttributeProto a = node.Attribute[rng.Next(node.Attribute.Count)];
                long value = new long[] { -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 100, long.MinValue }[rng.Next(12)];
                if (a.Ints.Count > 0)
                {
                    a.Ints[rng.Next(a.Ints.Count)] = value;
                    return $"node {node.Name} ({node.OpType}): attribute {a.Name} element -> {value}";
                }

                a.I = value;
                a.F = rng.Next(2) == 0 ? float.NaN : -a.F;
                return $"node {node.Name} ({node.OpType}): attribute {a.Name} -> {value} / f {a.F}";
            }

            case 4 when graph.Node.Count > 0:
            {
                NodeProto node = graph.Node[rng.Next(graph.Node.Count)];
                string op = Ops[rng.Next(Ops.Length)];
                string was = node.OpType;
                node.OpType = op;
                if (op is "Attention" or "MultiHeadAttention" && rng.Next(2) == 0)
                {
                    node.Domain = "com.microsoft";
                }

                return $"node {node.Name}: op {was} -> {op} (domain '{node.Domain}')";
            }

            case 5 when graph.Node.Count > 0:
            {
                NodeProto node = graph.Node[rng.Next(graph.Node.Count)];
                if (node.Input.Count == 0)
                {
                    return $"node {node.Name}: no input to rewire";
                }

                int k = rng.Next(node.Input.Count);
                string was = node.Input[k];
                NodeProto other = graph.Node[rng.Next(graph.Node.Count)];
                string to = rng.Next(4) switch
                {
                    0 => "does_not_exist",
                    1 => "",
                    _ => other.Output.Count > 0 ? other.Output[0] : "x",
                };
                node.Input[k] = to;
                return $"node {node.Name}: input {k} '{was}' -> '{to}'";
            }

            case 6 when graph.Node.Count > 0:
            {
                int i = rng.Next(graph.Node.Count);
                NodeProto node = graph.Node[i];
                if (rng.Next(2) == 0)
                {
                    graph.Node.RemoveAt(i);
                    return $"remove node {i} {node.Name} ({node.OpType})";
                }

                graph.Node.Insert(rng.Next(graph.Node.Count + 1), node.Clone());
                return $"duplicate node {i} {node.Name} ({node.OpType})";
            }

            case 7 when graph.Input.Count > 0:
            {
                ValueInfoProto input = graph.Input[rng.Next(graph.Input.Count)];
                var tensor = input.Type?.TensorType;
                if (tensor is null)
                {
                    return $"input {input.Name}: not a tensor";
                }

                if (rng.Next(3) == 0)
                {
                    int type = new[] { 0, 2, 6, 7, 10, 11 }[rng.Next(6)];
                    tensor.ElemType = type;
                    return $"input {input.Name}: element type -> {type}";
                }

                var shape = tensor.Shape;
                if (shape is null || shape.Dim.Count == 0 || rng.Next(4) == 0)
                {
                    tensor.Shape = new TensorShapeProto();
                    for (int k = 0; k < rng.Next(6); k++)
                    {
                        tensor.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = Dims[rng.Next(Dims.Length)] });
                    }

                    return $"input {input.Name}: shape -> rank {tensor.Shape.Dim.Count}";
                }

                int d = rng.Next(shape.Dim.Count);
                if (rng.Next(3) == 0)
                {
                    shape.Dim[d].DimParam = "n" + rng.Next(3);
                    return $"input {input.Name}: dim {d} -> symbolic";
                }

                long value = Dims[rng.Next(Dims.Length)];
                shape.Dim[d].DimValue = value;
                return $"input {input.Name}: dim {d} -> {value}";
            }

            case 8 when model.OpsetImport.Count > 0:
            {
                long version = new long[] { 0, 1, 7, 11, 13, 17, 21, 99 }[rng.Next(8)];
                model.OpsetImport[0].Version = version;
                return $"opset -> {version}";
            }

            case 9 when graph.Output.Count > 0:
            {
                if (rng.Next(2) == 0)
                {
                    graph.Output.RemoveAt(rng.Next(graph.Output.Count));
                    return "remove a graph output";
                }

                NodeProto node = graph.Node[rng.Next(graph.Node.Count)];
                string name = node.Output.Count > 0 ? node.Output[0] : "nothing";
                graph.Output.Add(new ValueInfoProto { Name = name });
                return $"add graph output '{name}' without type";
            }

            case 10 when graph.Initializer.Count > 0:
            {
                TensorProto t = graph.Initializer[rng.Next(graph.Initializer.Count)];
                t.DataLocation = TensorProto.Types.DataLocation.External;
                t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = rng.Next(2) == 0 ? "../../etc/passwd" : "missing.bin" });
                t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = rng.Next(2) == 0 ? "-1" : "99999999999" });
                return $"initializer {t.Name}: marked external";
            }

            default:
                return "no-op graph edit";
        }
    }
}
