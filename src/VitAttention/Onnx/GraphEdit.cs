using System.Globalization;
using Onnx;

namespace VitAttention.Onnx;

/// <summary>Small edits and names on an ONNX graph: unique names, renames, typed outputs, element sizes.</summary>
internal static class GraphEdit
{
    // Renames a graph output tensor everywhere (producer, consumers, output list) so its old name can be reused.
    internal static string RenameValue(GraphProto graph, IEnumerable<string> initializers, string name, string suggested)
    {
        string renamed = UniqueValueName(graph, initializers, suggested);
        foreach (NodeProto node in graph.Node)
        {
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k] == name)
                {
                    node.Input[k] = renamed;
                }
            }

            for (int k = 0; k < node.Output.Count; k++)
            {
                if (node.Output[k] == name)
                {
                    node.Output[k] = renamed;
                }
            }
        }

        foreach (ValueInfoProto output in graph.Output.Where(o => o.Name == name))
        {
            output.Name = renamed;
        }

        return renamed;
    }

    internal static string UniqueValueName(GraphProto graph, IEnumerable<string> initializers, string wanted)
    {
        var used = new HashSet<string>(graph.Node.SelectMany(n => n.Input.Concat(n.Output)), StringComparer.Ordinal);
        used.UnionWith(graph.Input.Select(i => i.Name));
        used.UnionWith(initializers);
        string name = wanted;
        for (int k = 1; used.Contains(name); k++)
        {
            name = wanted + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    internal static string UniqueNodeName(GraphProto graph, string wanted)
    {
        var used = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
        string name = wanted;
        for (int k = 1; used.Contains(name); k++)
        {
            name = wanted + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    internal static int ElementSize(int dataType) => (TensorProto.Types.DataType)dataType switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
        TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 => 8,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
            or TensorProto.Types.DataType.Uint16 => 2,
        TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => 1,
        _ => 0,
    };

    internal static ValueInfoProto FloatOutput(string name, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    internal static TensorShapeProto.Types.Dimension Fixed(long value) => new() { DimValue = value };

    internal static TensorShapeProto.Types.Dimension Symbolic(string name) => new() { DimParam = name };

    internal static string ShapeText(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
