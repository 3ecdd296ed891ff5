using Onnx;
using VitAttention.Models;

namespace VitAttention.Onnx.Gradients;

/// <summary>
/// What the differentiator needs to know about a parsed graph: who produces and who consumes each tensor, which
/// tensors are constants (initializers and <c>Constant</c> outputs, with their values on demand), each tensor's element
/// type, and the nodes in a topological order.
/// </summary>
internal sealed class GraphIndex
{
    private readonly OnnxModelBytes _model;
    private readonly Dictionary<string, int> _initializerIndex = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _constantNodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto?> _constantValues = new(StringComparer.Ordinal);

    public GraphIndex(OnnxModelBytes model, string source)
    {
        _model = model;
        Graph = model.Graph;
        Opset = model.Header.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        for (int i = 0; i < model.Initializers.Count; i++)
        {
            _initializerIndex[model.Initializers[i].Name] = i;
            ElemTypes[model.Initializers[i].Name] = model.Initializers[i].DataType;
        }

        foreach (ValueInfoProto input in Graph.Input)
        {
            if (!_initializerIndex.ContainsKey(input.Name) && input.Type?.TensorType is { } tensor)
            {
                ElemTypes[input.Name] = tensor.ElemType;
            }
        }

        (Consumers, var producerIndex) = GraphTopology.Links(Graph);
        Producers = producerIndex.ToDictionary(p => p.Key, p => Graph.Node[p.Value], StringComparer.Ordinal);
        foreach (NodeProto node in Graph.Node)
        {
            if (node.OpType == "Constant" && IsDefaultDomain(node) && node.Output.Count == 1 && TensorValues.FromConstantNode(node) is { } value)
            {
                _constantNodes[node.Output[0]] = value;
            }
        }

        Order = TopologicalOrder(source);
        foreach (NodeProto node in Order)
        {
            InferTypes(node);
        }
    }

    public GraphProto Graph { get; }

    public long Opset { get; }

    public Dictionary<string, NodeProto> Producers { get; }

    public Dictionary<string, List<(NodeProto Node, int Index)>> Consumers { get; }

    /// <summary>Element type of every tensor whose type could be inferred (TensorProto.DataType values).</summary>
    public Dictionary<string, int> ElemTypes { get; } = new(StringComparer.Ordinal);

    /// <summary>The nodes, each after the producers of its inputs.</summary>
    public IReadOnlyList<NodeProto> Order { get; }

    public static bool IsDefaultDomain(NodeProto node) => node.Domain is "" or "ai.onnx";

    /// <summary>Whether the tensor is an initializer or a Constant node's output.</summary>
    public bool IsConstant(string name) => _initializerIndex.ContainsKey(name) || _constantNodes.ContainsKey(name);

    public bool IsInitializer(string name) => _initializerIndex.ContainsKey(name);

    /// <summary>The dims of a constant (initializer or Constant node), else null.</summary>
    public long[]? ConstantDims(string name)
    {
        if (_initializerIndex.TryGetValue(name, out int i))
        {
            return [.. _model.Initializers[i].Dims];
        }

        return _constantNodes.TryGetValue(name, out TensorProto? t) ? [.. t.Dims] : null;
    }

    /// <summary>The full value of a constant (data included), else null.</summary>
    public TensorProto? ConstantValue(string name)
    {
        if (_constantValues.TryGetValue(name, out TensorProto? cached))
        {
            return cached;
        }

        TensorProto? value = null;
        if (_constantNodes.TryGetValue(name, out TensorProto? node))
        {
            value = node;
        }
        else if (_initializerIndex.TryGetValue(name, out int i))
        {
            TensorProto stub = _model.Initializers[i];
            value = stub.DataLocation == TensorProto.Types.DataLocation.External ? null : _model.ReadInitializer(i);
        }

        _constantValues[name] = value;
        return value;
    }

    /// <summary>A constant's values as integers, or null when it is not a constant integer tensor.</summary>
    public long[]? ConstantIntegers(string name) => ConstantValue(name) is { } t ? TensorValues.Integers(t) : null;

    /// <summary>A constant's values as doubles, or null when it is not a constant float tensor.</summary>
    public double[]? ConstantReals(string name) => ConstantValue(name) is { } t ? TensorValues.Reals(t) : null;

    public int ElemType(string name) => ElemTypes.TryGetValue(name, out int t) ? t : 0;

    public static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    public static long? IntAttribute(NodeProto node, string name) => Attribute(node, name)?.I;

    public static long[]? IntsAttribute(NodeProto node, string name) => Attribute(node, name) is { } a ? [.. a.Ints] : null;

    private List<NodeProto> TopologicalOrder(string source)
    {
        int n = Graph.Node.Count;
        var index = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < n; i++)
        {
            index[Graph.Node[i]] = i;
        }

        var successors = new List<int>[n];
        var indegree = new int[n];
        for (int i = 0; i < n; i++)
        {
            successors[i] = [];
        }

        for (int i = 0; i < n; i++)
        {
            var preds = new HashSet<int>();
            foreach (string input in Graph.Node[i].Input)
            {
                if (input.Length > 0 && Producers.TryGetValue(input, out NodeProto? p) && index[p] != i)
                {
                    preds.Add(index[p]);
                }
            }

            foreach (int p in preds)
            {
                successors[p].Add(i);
            }

            indegree[i] = preds.Count;
        }

        // Kahn's algorithm with the lowest index first keeps the file's order when it is already sorted.
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < n; i++)
        {
            if (indegree[i] == 0)
            {
                ready.Enqueue(i, i);
            }
        }

        var order = new List<NodeProto>(n);
        while (ready.TryDequeue(out int i, out _))
        {
            order.Add(Graph.Node[i]);
            foreach (int j in successors[i])
            {
                if (--indegree[j] == 0)
                {
                    ready.Enqueue(j, j);
                }
            }
        }

        if (order.Count != n)
        {
            throw new ModelFormatException($"{source}: the graph has a cycle; it is not a valid ONNX model. Export it again.");
        }

        return order;
    }

    // Element types of a node's outputs from its inputs and attributes (enough for the ops of ViT graphs).
    private void InferTypes(NodeProto node)
    {
        int first = node.Input.Count > 0 ? ElemType(node.Input[0]) : 0;
        int type = node.OpType switch
        {
            "Constant" => _constantNodes.TryGetValue(node.Output[0], out TensorProto? c) ? c.DataType : 0,
            "Cast" => (int)(IntAttribute(node, "to") ?? 0),
            "CastLike" => node.Input.Count > 1 ? ElemType(node.Input[1]) : 0,
            "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => TensorValues.Int64,
            "Equal" or "Greater" or "Less" or "GreaterOrEqual" or "LessOrEqual" or "Not" or "And" or "Or" or "Xor" or "IsNaN" or "IsInf" => TensorValues.Bool,
            "ConstantOfShape" => Attribute(node, "value")?.T is { } v ? v.DataType : TensorValues.Float,
            "Where" => node.Input.Count > 1 ? ElemType(node.Input[1]) : 0,
            "OneHot" => node.Input.Count > 2 ? ElemType(node.Input[2]) : 0,
            "QuantizeLinear" or "DynamicQuantizeLinear" => (int)TensorProto.Types.DataType.Uint8,
            "DequantizeLinear" => TensorValues.Float,
            _ => first,
        };
        if (type == 0)
        {
            return;
        }

        foreach (string output in node.Output)
        {
            if (output.Length > 0 && !ElemTypes.ContainsKey(output))
            {
                ElemTypes[output] = type;
            }
        }

        if (node.OpType is "LayerNormalization" && node.Output.Count > 1)
        {
            // Mean and InvStdDev are float32 by default (stash_type 1).
            for (int k = 1; k < node.Output.Count; k++)
            {
                if (node.Output[k].Length > 0)
                {
                    ElemTypes[node.Output[k]] = TensorValues.Float;
                }
            }
        }
    }
}
