using System.Globalization;
using Google.Protobuf;
using Onnx;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Onnx.Gradients;

/// <summary>What to differentiate: <see cref="GradientGraph.Differentiate"/>'s request.</summary>
internal sealed record GradientRequest
{
    /// <summary>What the graph came from, for messages.</summary>
    public required string Source { get; init; }

    /// <summary>The graph input the probe feeds: [batch, <see cref="InputItemShape"/>…] float32.</summary>
    public required string InputName { get; init; }

    /// <summary>The input's dimensions after the batch.</summary>
    public required long[] InputItemShape { get; init; }

    /// <summary>The [batch, classes] tensor whose target entry is differentiated.</summary>
    public required string Logits { get; init; }

    /// <summary>Tensors whose gradients become outputs, and the output names.</summary>
    public required IReadOnlyList<(string Tensor, string Output)> Gradients { get; init; }

    /// <summary>Forward tensors that become outputs as they are, and the output names.</summary>
    public IReadOnlyList<(string Tensor, string Output)> Activations { get; init; } = [];
}

/// <summary>The graph <see cref="GradientGraph.Differentiate"/> wrote and the shapes it learned.</summary>
internal sealed record DifferentiationResult
{
    public required byte[] Onnx { get; init; }

    /// <summary>Nodes appended for the backward pass.</summary>
    public required int BackwardNodes { get; init; }

    /// <summary>The op types of the forward nodes differentiated, last first.</summary>
    public required IReadOnlyList<string> DifferentiatedOps { get; init; }

    /// <summary>Probed shapes (−1 where a dimension follows the batch) of the tensors on the gradient path and those asked for.</summary>
    public required IReadOnlyDictionary<string, long[]> Shapes { get; init; }
}

/// <summary>What <see cref="GradientGraph.Build"/> produced and learned.</summary>
internal sealed record GradientGraphResult
{
    /// <summary>The serialised model: every original output, plus the gradient outputs and the target input.</summary>
    public required byte[] Onnx { get; init; }

    /// <summary>Attention layers (outputs <c>attentions.{l}</c> and <c>grad.attentions.{l}</c>).</summary>
    public required int Layers { get; init; }

    /// <summary>Classes of the logits the gradients are taken of.</summary>
    public required int Classes { get; init; }

    /// <summary>The tensors differentiated for each layer (the probabilities the network multiplies V with).</summary>
    public required IReadOnlyList<string> AttentionTensors { get; init; }

    /// <summary>The last block's norm1 input tensor in the source graph; null when it was not found.</summary>
    public string? Norm1Input { get; init; }

    /// <summary>The last block's norm1 output tensor in the source graph; null when it was not found.</summary>
    public string? Norm1Output { get; init; }

    /// <summary>Why the norm1 tensors are absent (then the graph has no norm1 outputs); null when they were found.</summary>
    public string? Norm1Missing { get; init; }

    /// <summary>The static shape of the norm1 tensors, −1 for the batch: [batch, tokens, hidden].</summary>
    public long[]? Norm1Shape { get; init; }

    /// <summary>Nodes appended for the backward pass.</summary>
    public required int BackwardNodes { get; init; }

    /// <summary>Forward nodes that were differentiated (the op types, for coverage reports).</summary>
    public required IReadOnlyList<string> DifferentiatedOps { get; init; }
}

/// <summary>
/// A reverse-mode differentiator over ONNX graphs: appends to a prepared ViT graph (outputs <c>logits</c> and
/// <c>attentions.{l}</c>) the backward pass of the logit of a target class, so that one ONNX Runtime run returns the
/// logits, the attentions and d logit[target] / d attention for every layer, plus the input and output activations of
/// the last block's <c>norm1</c> and their gradients (Grad-CAM's tensors).
/// </summary>
/// <remarks>
/// <para>
/// Added input: <c>target_class</c> int64 [batch]. Added outputs: <c>grad.attentions.{l}</c> [batch, heads, tokens,
/// tokens], and when the norm was found (<see cref="Norm1Locator"/>) <c>norm1_input</c>, <c>grad.norm1_input</c>,
/// <c>norm1_output</c>, <c>grad.norm1_output</c> [batch, tokens, hidden]. The seed is the one-hot of the target, so
/// the gradients are of the logit, not of the softmax probability (as Chefer et al. and pytorch-grad-cam take them).
/// </para>
/// <para>
/// Only tensors on a path from a wanted tensor (an attention, the norm1 input or output) to the logits get
/// gradients, and only through differentiable inputs: weights, constants and the integer shape arithmetic of
/// torch exports (Shape, Gather on shapes, Concat of shapes, Range, ConstantOfShape) never do. The rules are written
/// in the graph's own opset (11 to 22). Shapes the rules need (broadcast axes, slice bounds) are read by running the
/// graph once per probe batch (<see cref="ShapeProbe"/>); a dimension that follows the batch stays dynamic.
/// </para>
/// </remarks>
internal sealed partial class GradientGraph
{
    public const string TargetInput = "target_class";
    public const string GradientPrefix = "grad.";
    public const string Norm1InputOutput = "norm1_input";
    public const string Norm1OutputOutput = "norm1_output";
    public const string GradNorm1Input = "grad.norm1_input";
    public const string GradNorm1Output = "grad.norm1_output";
    public const int MinOpset = 11;
    public const int MaxOpset = 22;

    private const string Prefix = "vitattention.grad.";

    private readonly GraphIndex _index;
    private readonly GraphEmitter _emit;
    private readonly string _source;
    private readonly HashSet<string> _path;
    private readonly Dictionary<string, long[]> _shapes;
    private readonly Dictionary<string, List<string>> _contributions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> _totals = new(StringComparer.Ordinal);

    // Gradients of single-index Gathers (qkv[0], qkv[1], qkv[2]; x[:, 0]) per source tensor, put together in Total.
    private readonly Dictionary<string, List<(long Axis, long Index, long Dim, string Gradient)>> _gatherParts = new(StringComparer.Ordinal);

    private GradientGraph(GraphIndex index, string source, HashSet<string> path, Dictionary<string, long[]> shapes)
    {
        _index = index;
        _source = source;
        _path = path;
        _shapes = shapes;
        _emit = new GraphEmitter(index.Graph, index.Opset, Prefix);
    }

    /// <summary>The name of layer <paramref name="layer"/>'s attention gradient output.</summary>
    public static string AttentionGradientOutput(int layer) => GradientPrefix + PreparedModel.AttentionOutput(layer);

    /// <summary>Builds the gradient graph of a prepared model.</summary>
    /// <param name="model">A graph with <c>logits</c> and <c>attentions.{l}</c> outputs (built or exposed by the library).</param>
    /// <returns>The new graph and what was found.</returns>
    /// <exception cref="ModelFormatException">The model has no classifier, an op on the gradient path has no
    /// backward rule here (the message names the op and the node), the opset is outside 11–22, or the graph computes
    /// in a type other than float32/float64.</exception>
    public static GradientGraphResult Build(PreparedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        string source = model.Source;
        VitConfig config = model.Config;
        if (config.NumClasses <= 0)
        {
            throw new ModelFormatException(
                $"{source}: the model has no classifier (no logits), so there is no class to take gradients of. Class-specific " +
                "explanations need an image-classification model.");
        }

        OnnxModelBytes bytes;
        try
        {
            bytes = OnnxModelBytes.Parse(model.ReadOnnx());
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or FormatException)
        {
            throw new ModelFormatException($"{source}: the prepared graph does not parse as ONNX: {ex.Message}", ex);
        }

        var index = new GraphIndex(bytes, source);
        GraphProto graph = index.Graph;
        var outputNames = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        if (!outputNames.Contains(PreparedModel.LogitsOutput))
        {
            throw new ModelFormatException($"{source}: the graph has no '{PreparedModel.LogitsOutput}' output; prepare the model with the library first.");
        }

        var attentions = new List<string>();
        for (int l = 0; l < config.NumLayers; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            if (!outputNames.Contains(name))
            {
                throw new ModelFormatException($"{source}: the graph has no '{name}' output; prepare the model with the library first.");
            }

            attentions.Add(ResolveAlias(index, name));
        }

        HashSet<string> imageDependent = ImageDependent(index, model.InputName);
        Norm1Locator.Result norm1 = Norm1Locator.Find(index, attentions[^1], imageDependent);
        var gradients = attentions.Select((a, l) => (a, AttentionGradientOutput(l))).ToList();
        var activations = new List<(string, string)>();
        if (norm1.Input is not null)
        {
            gradients.Add((norm1.Input, GradNorm1Input));
            gradients.Add((norm1.Output!, GradNorm1Output));
            activations.Add((norm1.Input, Norm1InputOutput));
            activations.Add((norm1.Output!, Norm1OutputOutput));
        }

        var request = new GradientRequest
        {
            Source = source,
            InputName = model.InputName,
            InputItemShape = [config.Channels, config.ImageHeight, config.ImageWidth],
            Logits = PreparedModel.LogitsOutput,
            Gradients = gradients,
            Activations = activations,
        };
        DifferentiationResult result = Differentiate(bytes, index, request);
        long[] logitsShape = result.Shapes[PreparedModel.LogitsOutput];
        if (logitsShape.Length != 2 || logitsShape[1] != config.NumClasses)
        {
            throw new ModelFormatException(
                $"{source}: the logits are [{string.Join(", ", logitsShape)}], not [batch, {config.NumClasses}] as the config says.");
        }

        long[] attentionShape = result.Shapes[attentions[0]];
        if (attentionShape.Length != 4 || attentionShape[1] != config.NumHeads || attentionShape[2] != config.Tokens || attentionShape[3] != config.Tokens)
        {
            throw new ModelFormatException(
                $"{source}: the attention probabilities are {Text(attentionShape)}, not [batch, {config.NumHeads}, {config.Tokens}, {config.Tokens}] as the config says.");
        }

        long[]? norm1Shape = norm1.Input is null ? null : result.Shapes[norm1.Input];
        if (norm1Shape is not null && (norm1Shape.Length != 3 || norm1Shape[1] != config.Tokens || norm1Shape[2] <= 0))
        {
            throw new ModelFormatException($"{source}: the last block's norm1 input '{norm1.Input}' is {Text(norm1Shape)}, not [batch, tokens, hidden].");
        }

        return new GradientGraphResult
        {
            Onnx = result.Onnx,
            Layers = attentions.Count,
            Classes = config.NumClasses,
            AttentionTensors = attentions,
            Norm1Input = norm1.Input,
            Norm1Output = norm1.Output,
            Norm1Missing = norm1.Reason,
            Norm1Shape = norm1Shape,
            BackwardNodes = result.BackwardNodes,
            DifferentiatedOps = result.DifferentiatedOps,
        };
    }

    /// <summary>
    /// The general differentiator: appends to the graph the gradients of the target logit with respect to the requested
    /// tensors, as outputs, and the requested activations as outputs; adds the <c>target_class</c> input.
    /// </summary>
    /// <exception cref="ModelFormatException">An op on the gradient path has no rule, or a tensor on it is not float32/float64.</exception>
    public static DifferentiationResult Differentiate(OnnxModelBytes bytes, GraphIndex index, GradientRequest request)
    {
        string source = request.Source;
        if (index.Opset is < MinOpset or > MaxOpset)
        {
            throw new ModelFormatException(
                $"{source}: the graph uses ONNX opset {index.Opset}; gradients are built for opsets {MinOpset} to {MaxOpset}. " +
                "Export the model again with an opset in that range (torch.onnx.export(..., opset_version=17)).");
        }

        var wanted = request.Gradients.Select(g => g.Tensor).Distinct(StringComparer.Ordinal).ToList();
        HashSet<string> path = GradientPath(index, wanted, request.Logits);
        List<NodeProto> differentiate = [.. index.Order.Where(n => n.Output.Any(path.Contains))];
        foreach (NodeProto node in differentiate)
        {
            if (DifferentiableInputs(node, index) is null)
            {
                string domain = GraphIndex.IsDefaultDomain(node) ? "ai.onnx" : node.Domain;
                throw Unsupported(source, node, $"the gradient graph has no backward rule for {domain} {node.OpType}");
            }
        }

        foreach (string name in path)
        {
            int type = index.ElemType(name);
            if (!TensorValues.IsGradientType(type))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{name}' on the gradient path is {(TensorProto.Types.DataType)type}; gradients are computed " +
                    "in float32 or float64 only. Use the model's float32 export.");
            }
        }

        // Shapes of every tensor a rule reads, learned by running the graph.
        var probe = new HashSet<string>(StringComparer.Ordinal) { request.Logits };
        probe.UnionWith(wanted);
        probe.UnionWith(request.Activations.Select(a => a.Tensor));
        foreach (NodeProto node in differentiate)
        {
            probe.UnionWith(node.Input.Concat(node.Output).Where(n => n.Length > 0 && !index.IsConstant(n)));
        }

        probe.Remove(request.InputName);
        Dictionary<string, long[]> shapes = ShapeProbe.Run(bytes, request.InputName, request.InputItemShape, probe, source);
        shapes[request.InputName] = [-1, .. request.InputItemShape];
        long[] logitsShape = shapes[request.Logits];
        if (logitsShape.Length != 2 || logitsShape[1] <= 0)
        {
            throw new ModelFormatException($"{source}: the logits '{request.Logits}' are {Text(logitsShape)}, not [batch, classes].");
        }

        var builder = new GradientGraph(index, source, path, shapes);
        return builder.Emit(bytes, request, (int)logitsShape[1], differentiate);
    }

    private DifferentiationResult Emit(OnnxModelBytes bytes, GradientRequest request, int classes, List<NodeProto> differentiate)
    {
        GraphProto graph = _index.Graph;
        foreach (string name in request.Gradients.Select(g => g.Output).Concat(request.Activations.Select(a => a.Output)).Append(TargetInput))
        {
            if (_index.Producers.ContainsKey(name) || graph.Input.Any(i => i.Name == name) || _index.IsConstant(name))
            {
                throw new ModelFormatException($"{_source}: the graph already has a tensor named '{name}'; was the gradient graph built twice?");
            }
        }

        // Seed: d logits[b, c] / d logits = one-hot(target[b]) (OneHot in float32, which every runtime has, then the logits' type).
        int logitsType = _index.ElemType(request.Logits);
        string seed = _emit.Node("OneHot",
            [TargetInput, _emit.Int64Scalar(classes), _emit.Constant(TensorValues.RealTensor(TensorValues.Float, [0.0, 1.0], 2))],
            GraphEmitter.Int("axis", -1));
        Contribute(request.Logits, logitsType == TensorValues.Float ? seed : _emit.Cast(seed, logitsType));

        var ops = new List<string>();
        for (int i = differentiate.Count - 1; i >= 0; i--)
        {
            NodeProto node = differentiate[i];
            var grads = node.Output.Select(o => o.Length > 0 && _path.Contains(o) ? Total(o) : null).ToArray();
            if (grads.All(g => g is null))
            {
                continue;
            }

            Backward(node, grads);
            ops.Add(node.OpType);
        }

        var batch = new TensorShapeProto.Types.Dimension { DimParam = "batch" };
        graph.Input.Add(new ValueInfoProto
        {
            Name = TargetInput,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorValues.Int64, Shape = new TensorShapeProto { Dim = { batch } } } },
        });

        foreach ((string tensor, string output) in request.Gradients)
        {
            AddOutput(GradientOrZeros(tensor), output, _shapes[tensor], _index.ElemType(tensor));
        }

        foreach ((string tensor, string output) in request.Activations)
        {
            AddOutput(tensor, output, _shapes[tensor], _index.ElemType(tensor));
        }

        byte[] onnx;
        try
        {
            onnx = bytes.ToByteArray();
        }
        catch (InvalidOperationException ex)
        {
            throw new ModelFormatException($"{_source}: {ex.Message}; the gradient graph of a model this large does not fit one ONNX file.", ex);
        }

        return new DifferentiationResult
        {
            Onnx = onnx,
            BackwardNodes = _emit.Added,
            DifferentiatedOps = ops,
            Shapes = _shapes,
        };
    }

    private void AddOutput(string tensor, string name, long[] shape, int elemType)
    {
        GraphProto graph = _index.Graph;
        _emit.NodeTo("Identity", [tensor], name);
        var dims = new TensorShapeProto();
        foreach (long d in shape)
        {
            dims.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "batch" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        graph.Output.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = dims } },
        });
    }

    private string GradientOrZeros(string tensor) => Total(tensor) ?? _emit.ZerosLike(tensor, _index.ElemType(tensor));

    /// <summary>Adds one term to a tensor's gradient (ignored for tensors off the gradient path).</summary>
    private void Contribute(string tensor, string gradient)
    {
        if (!_path.Contains(tensor))
        {
            return;
        }

        if (_totals.ContainsKey(tensor))
        {
            throw new InvalidOperationException($"internal error: gradient of '{tensor}' changed after it was summed");
        }

        if (!_contributions.TryGetValue(tensor, out var list))
        {
            _contributions[tensor] = list = [];
        }

        list.Add(gradient);
    }

    /// <summary>The gradient of a tensor: the sum of its contributions, emitted once; null when it has none.</summary>
    private string? Total(string tensor)
    {
        if (_totals.TryGetValue(tensor, out string? total))
        {
            return total;
        }

        var terms = _contributions.TryGetValue(tensor, out var list) ? new List<string>(list) : [];
        if (_gatherParts.TryGetValue(tensor, out var parts))
        {
            terms.AddRange(ScatterGathers(parts, ShapeOf(tensor).Length));
        }

        total = terms.Count > 0 ? _emit.Sum(terms) : null;
        _totals[tensor] = total;
        return total;
    }

    /// <summary>
    /// The gradient of a tensor from its single-index Gathers: per axis, when the indices read are distinct and
    /// consecutive (qkv[0], qkv[1], qkv[2]; the CLS and distillation tokens), one Concat of the pieces in index order,
    /// zero-padded to the axis's size, instead of one zero-padded copy per Gather and their sum. Otherwise each piece
    /// is padded on its own.
    /// </summary>
    private IEnumerable<string> ScatterGathers(List<(long Axis, long Index, long Dim, string Gradient)> parts, int rank)
    {
        foreach (var group in parts.GroupBy(p => p.Axis))
        {
            long axis = group.Key;
            long dim = group.First().Dim;
            var sorted = group.OrderBy(p => p.Index).ToList();
            bool consecutive = sorted.Select((p, k) => p.Index == sorted[0].Index + k).All(b => b);
            if (!consecutive)
            {
                foreach (var part in sorted)
                {
                    yield return PadAlong(_emit.Unsqueeze(part.Gradient, [axis]), rank, axis, part.Index, part.Index + 1, dim);
                }

                continue;
            }

            var pieces = sorted.Select(p => _emit.Unsqueeze(p.Gradient, [axis])).ToList();
            string joined = pieces.Count == 1 ? pieces[0] : _emit.Concat(pieces, axis);
            yield return PadAlong(joined, rank, axis, sorted[0].Index, sorted[^1].Index + 1, dim);
        }
    }

    /// <summary>Zero-pads <paramref name="piece"/>, which holds positions [start, end) of an axis of size dim.</summary>
    private string PadAlong(string piece, int rank, long axis, long start, long end, long dim)
    {
        if (start == 0 && end == dim)
        {
            return piece;
        }

        var pads = new long[2 * rank];
        pads[axis] = start;
        pads[rank + axis] = dim - end;
        return _emit.Pad(piece, pads);
    }

    private static ModelFormatException Unsupported(string source, NodeProto node, string what) =>
        new($"{source}: cannot build the gradient graph: {what} (node '{node.Name}', op {node.OpType}), which lies between " +
            "the attention and the logits. Export the model without that op (torch.onnx.export with opset 14–17 and no " +
            "graph optimisation writes only ops that have rules), or report the op so a rule can be added.");

    // Follows Identity/Cast nodes that only feed graph outputs back to the tensor the network itself uses.
    private static string ResolveAlias(GraphIndex index, string name)
    {
        string t = name;
        for (int step = 0; step < 4; step++)
        {
            bool consumed = index.Consumers.ContainsKey(t);
            if (consumed || !index.Producers.TryGetValue(t, out NodeProto? p) || p.OpType is not ("Identity" or "Cast") || p.Input.Count == 0)
            {
                break;
            }

            t = p.Input[0];
        }

        return t;
    }

    // Floating-point tensors computed from the image input.
    private static HashSet<string> ImageDependent(GraphIndex index, string inputName)
    {
        var set = new HashSet<string>(StringComparer.Ordinal) { inputName };
        foreach (NodeProto node in index.Order)
        {
            if (node.Input.Any(set.Contains))
            {
                foreach (string o in node.Output)
                {
                    if (o.Length > 0 && TensorValues.IsFloating(index.ElemType(o)))
                    {
                        set.Add(o);
                    }
                }
            }
        }

        return set;
    }

    /// <summary>
    /// Tensors that both depend on a wanted tensor and reach the logits, through differentiable inputs only.
    /// </summary>
    private static HashSet<string> GradientPath(GraphIndex index, IEnumerable<string> wanted, string logits)
    {
        var forward = new HashSet<string>(wanted, StringComparer.Ordinal);
        foreach (NodeProto node in index.Order)
        {
            int[]? inputs = DifferentiableInputs(node, index);
            bool reached = inputs is null
                ? node.Input.Any(forward.Contains)
                : inputs.Any(k => k < node.Input.Count && forward.Contains(node.Input[k]));
            if (reached)
            {
                forward.UnionWith(node.Output.Where(o => o.Length > 0));
            }
        }

        var backward = new HashSet<string>(StringComparer.Ordinal) { logits };
        for (int i = index.Order.Count - 1; i >= 0; i--)
        {
            NodeProto node = index.Order[i];
            if (!node.Output.Any(backward.Contains))
            {
                continue;
            }

            int[]? inputs = DifferentiableInputs(node, index);
            IEnumerable<string> names = inputs is null ? node.Input : inputs.Where(k => k < node.Input.Count).Select(k => node.Input[k]);
            backward.UnionWith(names.Where(n => n.Length > 0));
        }

        forward.IntersectWith(backward);
        return forward;
    }

    /// <summary>The inputs a node's outputs are differentiable in; empty for ops with no gradient (shape arithmetic,
    /// comparisons); null for ops this differentiator does not know.</summary>
    internal static int[]? DifferentiableInputs(NodeProto node, GraphIndex index)
    {
        if (!GraphIndex.IsDefaultDomain(node))
        {
            return null;
        }

        switch (node.OpType)
        {
            case "Identity" or "Dropout" or "Neg" or "Sqrt" or "Reciprocal" or "Exp" or "Log" or "Erf" or "Tanh" or "Sigmoid"
                or "Relu" or "Gelu" or "Softmax" or "LogSoftmax" or "ReduceMean" or "ReduceSum" or "Reshape" or "Transpose"
                or "Squeeze" or "Unsqueeze" or "Flatten" or "Slice" or "Gather" or "Expand" or "Split":
                return [0];
            case "Cast":
                return node.Input.Count > 0 && TensorValues.IsFloating(index.ElemType(node.Input[0]))
                    && TensorValues.IsFloating((int)(GraphIndex.IntAttribute(node, "to") ?? 0)) ? [0] : [];
            case "Add" or "Sub" or "Mul" or "Div" or "MatMul" or "Pow":
                return [0, 1];
            case "Gemm" or "LayerNormalization":
                return [0, 1, 2];
            case "Where":
                return [1, 2];
            case "Sum" or "Concat":
                return [.. Enumerable.Range(0, node.Input.Count)];
            case "Shape" or "Size" or "Constant" or "ConstantOfShape" or "Range" or "Equal" or "Greater" or "Less"
                or "GreaterOrEqual" or "LessOrEqual" or "Not" or "And" or "Or" or "Xor" or "NonZero" or "ArgMax" or "ArgMin"
                or "OneHot" or "EyeLike" or "IsNaN" or "IsInf" or "Floor" or "Ceil" or "Round" or "Sign":
                return [];
            default:
                return null;
        }
    }

    private long[] ShapeOf(string name) =>
        _shapes.TryGetValue(name, out long[]? s) ? s
        : _index.ConstantDims(name) ?? throw new InvalidOperationException($"internal error: no shape for '{name}'");

    private static string Text(long[] shape) => "[" + string.Join(", ", shape.Select(d => d < 0 ? "batch" : d.ToString(CultureInfo.InvariantCulture))) + "]";
}
