using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VitAttention.Onnx;
using VitAttention.Models;
using VitAttention.Onnx.Gradients;

namespace VitAttention.Tests.Gradients;

/// <summary>
/// A small ONNX graph around one op under test: input <c>x</c> [batch, item shape…], the nodes a case adds, then
/// <c>Flatten</c> to [batch, k] as <c>logits</c>. Initializers take the graph's element type.
/// </summary>
public sealed class TinyGraph
{
    private readonly GraphProto _graph = new() { Name = "tiny" };
    private readonly Random _random = new(12345);
    private int _next;

    public TinyGraph(int opset, int elemType, params long[] itemShape)
    {
        Opset = opset;
        ElemType = elemType;
        ItemShape = itemShape;
        var shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "batch" } } };
        foreach (long d in itemShape)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        _graph.Input.Add(new ValueInfoProto { Name = X, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } });
    }

    public const string X = "x";

    public int Opset { get; }

    public int ElemType { get; }

    public long[] ItemShape { get; }

    public static AttributeProto Int(string name, long value) => GraphEmitter.Int(name, value);

    public static AttributeProto Ints(string name, params long[] values) => GraphEmitter.Ints(name, values);

    public static AttributeProto Float(string name, float value) => GraphEmitter.Float(name, value);

    /// <summary>A random initializer of the graph's type, values uniform in [lo, hi].</summary>
    public string Random(long[] dims, double lo = -1, double hi = 1)
    {
        long count = dims.Aggregate(1L, (p, d) => p * d);
        double[] values = [.. Enumerable.Range(0, (int)count).Select(_ => lo + ((hi - lo) * _random.NextDouble()))];
        return Init(values, dims);
    }

    public string Init(double[] values, params long[] dims)
    {
        TensorProto t = TensorValues.RealTensor(ElemType, values, dims);
        t.Name = "init" + _next++;
        _graph.Initializer.Add(t);
        return t.Name;
    }

    public string Int64(long[] values, bool scalar = false)
    {
        TensorProto t = TensorValues.Int64Tensor(values, scalar);
        t.Name = "int" + _next++;
        _graph.Initializer.Add(t);
        return t.Name;
    }

    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => Nodes(op, inputs, 1, attributes)[0];

    public string[] Nodes(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{_next++}" };
        node.Input.AddRange(inputs);
        node.Attribute.AddRange(attributes);
        for (int i = 0; i < outputs; i++)
        {
            node.Output.Add($"{op.ToLowerInvariant()}_{_next++}");
        }

        _graph.Node.Add(node);
        return [.. node.Output];
    }

    /// <summary>Adds an extra graph output (a branch that does not reach the logits).</summary>
    public void Output(string name) => _graph.Output.Add(new ValueInfoProto { Name = name });

    /// <summary>Flattens <paramref name="output"/> to [batch, k] as <c>logits</c> and serialises the model.</summary>
    public byte[] Finish(string output)
    {
        var node = new NodeProto { OpType = "Flatten", Name = "flatten_logits", Input = { output }, Output = { "logits" } };
        node.Attribute.Add(Int("axis", 1));
        _graph.Node.Add(node);
        _graph.Output.Insert(0, new ValueInfoProto { Name = "logits" });
        var model = new ModelProto { IrVersion = 8, Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        return model.ToByteArray();
    }

    /// <summary>The gradient graph of <paramref name="onnx"/> with d logits[target]/dx as output <c>grad.x</c>.</summary>
    public static byte[] Differentiate(byte[] onnx, long[] itemShape, IReadOnlyList<(string Tensor, string Output)>? gradients = null)
    {
        OnnxModelBytes bytes = OnnxModelBytes.Parse(onnx);
        var index = new GraphIndex(bytes, "tiny graph");
        return GradientGraph.Differentiate(bytes, index, new GradientRequest
        {
            Source = "tiny graph",
            InputName = X,
            InputItemShape = itemShape,
            Logits = "logits",
            Gradients = gradients ?? [(X, "grad.x")],
        }).Onnx;
    }

    /// <summary>Runs a graph on x (and the targets when given) and returns the named outputs as doubles.</summary>
    public static double[][] Run(InferenceSession session, int elemType, double[] x, long[] shape, long[]? targets, params string[] outputs)
    {
        var inputs = new List<OrtValue>();
        var names = new List<string> { X };
        try
        {
            inputs.Add(elemType == TensorValues.Double
                ? OrtValue.CreateTensorValueFromMemory(x, shape)
                : OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(x, v => (float)v), shape));
            if (targets is not null)
            {
                inputs.Add(OrtValue.CreateTensorValueFromMemory(targets, [targets.Length]));
                names.Add(GradientGraph.TargetInput);
            }

            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, inputs, outputs);
            return [.. results.Select(r => elemType == TensorValues.Double
                ? r.GetTensorDataAsSpan<double>().ToArray()
                : Array.ConvertAll(r.GetTensorDataAsSpan<float>().ToArray(), v => (double)v))];
        }
        finally
        {
            foreach (OrtValue v in inputs)
            {
                v.Dispose();
            }
        }
    }
}
