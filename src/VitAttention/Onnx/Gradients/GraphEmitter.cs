using System.Globalization;
using Onnx;

namespace VitAttention.Onnx.Gradients;

/// <summary>
/// Appends nodes to a graph with fresh names, in the form the model's opset expects (ReduceSum, ReduceMean,
/// Squeeze and Unsqueeze moved their axes from attributes to inputs at opsets 13 and 18). Constants become
/// <c>Constant</c> nodes, created once per value.
/// </summary>
internal sealed class GraphEmitter
{
    private readonly GraphProto _graph;
    private readonly string _prefix;
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _shapes = new(StringComparer.Ordinal);
    private int _next;

    public GraphEmitter(GraphProto graph, long opset, string prefix)
    {
        _graph = graph;
        Opset = opset;
        _prefix = prefix;
    }

    public long Opset { get; }

    /// <summary>Nodes added so far.</summary>
    public int Added { get; private set; }

    public string Fresh(string hint) => _prefix + (_next++).ToString(CultureInfo.InvariantCulture) + "." + hint;

    public string Node(string op, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        NodeTo(op, inputs, Fresh(op.ToLowerInvariant()), attributes);

    public string NodeTo(string op, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = _prefix + "node" + (_next++).ToString(CultureInfo.InvariantCulture) + "/" + op };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        Added++;
        return output;
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Tensor(string name, TensorProto value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };

    public string Constant(TensorProto value)
    {
        string key = value.DataType.ToString(CultureInfo.InvariantCulture) + "[" + string.Join(",", value.Dims) + "]" +
            Convert.ToHexString(value.RawData.Span);
        if (!_constants.TryGetValue(key, out string? name))
        {
            name = NodeTo("Constant", [], Fresh("const"), Tensor("value", value));
            _constants[key] = name;
        }

        return name;
    }

    /// <summary>A rank-0 constant of the given float element type.</summary>
    public string Scalar(int elemType, double value) => Constant(TensorValues.RealTensor(elemType, [value]));

    public string Int64s(params long[] values) => Constant(TensorValues.Int64Tensor(values));

    public string Int64Scalar(long value) => Constant(TensorValues.Int64Tensor([value], scalar: true));

    /// <summary>The runtime shape of a tensor, one Shape node per tensor.</summary>
    public string Shape(string x)
    {
        if (!_shapes.TryGetValue(x, out string? s))
        {
            s = Node("Shape", [x]);
            _shapes[x] = s;
        }

        return s;
    }

    public string Unary(string op, string x) => Node(op, [x]);

    public string Binary(string op, string a, string b) => Node(op, [a, b]);

    public string Add(string a, string b) => Binary("Add", a, b);

    public string Sub(string a, string b) => Binary("Sub", a, b);

    public string Mul(string a, string b) => Binary("Mul", a, b);

    public string Div(string a, string b) => Binary("Div", a, b);

    public string Neg(string a) => Unary("Neg", a);

    public string MatMul(string a, string b) => Binary("MatMul", a, b);

    public string Transpose(string x, long[] perm) => Node("Transpose", [x], Ints("perm", perm));

    public string Reshape(string x, string shape) => Node("Reshape", [x, shape]);

    public string Expand(string x, string shape) => Node("Expand", [x, shape]);

    public string Where(string condition, string a, string b) => Node("Where", [condition, a, b]);

    public string Cast(string x, int to) => Node("Cast", [x], Int("to", to));

    public string ReduceSum(string x, long[] axes, bool keepDims) =>
        Opset >= 13
            ? Node("ReduceSum", [x, Int64s(axes)], Int("keepdims", keepDims ? 1 : 0))
            : Node("ReduceSum", [x], Ints("axes", axes), Int("keepdims", keepDims ? 1 : 0));

    public string ReduceMean(string x, long[] axes, bool keepDims) =>
        Opset >= 18
            ? Node("ReduceMean", [x, Int64s(axes)], Int("keepdims", keepDims ? 1 : 0))
            : Node("ReduceMean", [x], Ints("axes", axes), Int("keepdims", keepDims ? 1 : 0));

    public string Unsqueeze(string x, long[] axes) =>
        Opset >= 13 ? Node("Unsqueeze", [x, Int64s(axes)]) : Node("Unsqueeze", [x], Ints("axes", axes));

    public string Squeeze(string x, long[] axes) =>
        Opset >= 13 ? Node("Squeeze", [x, Int64s(axes)]) : Node("Squeeze", [x], Ints("axes", axes));

    /// <summary>Zero padding: <paramref name="pads"/> holds every axis's leading counts, then every axis's trailing counts.</summary>
    public string Pad(string x, long[] pads) => Node("Pad", [x, Int64s(pads)]);

    public string Slice(string x, long[] starts, long[] ends, long[] axes) => Node("Slice", [x, Int64s(starts), Int64s(ends), Int64s(axes)]);

    public string Concat(IEnumerable<string> inputs, long axis) => Node("Concat", inputs, Int("axis", axis));

    /// <summary>Zeros shaped like <paramref name="like"/> (at run time) of the given float element type.</summary>
    public string ZerosLike(string like, int elemType) =>
        Node("ConstantOfShape", [Shape(like)], Tensor("value", TensorValues.RealTensor(elemType, [0.0], 1)));

    /// <summary>The sum of the contributions (a Sum node when there are several).</summary>
    public string Sum(IReadOnlyList<string> terms) => terms.Count == 1 ? terms[0] : Node("Sum", terms);
}
