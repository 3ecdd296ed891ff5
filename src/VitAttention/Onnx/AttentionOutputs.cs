using System.Globalization;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Onnx;

/// <summary>Adds the <c>attentions.{l}</c> and <c>logits</c> outputs to an ONNX graph, and reads what else the graph tells (logits, patch size).</summary>
internal static class AttentionOutputs
{
    internal static (string? Name, int Classes, int ElemType) FindLogits(
        GraphProto graph, HashSet<string> initializers, List<ValueInfoProto> outputs, Dictionary<string, ProbedTensor> probed, int batch, string source)
    {
        static bool IsLogitsShape(ProbedTensor? t, int batch) => t is not null && t.Shape.Length == 2 && t.Shape[0] == batch && t.Shape[1] > 0;

        ValueInfoProto? named = outputs.FirstOrDefault(o => o.Name == PreparedModel.LogitsOutput);
        List<ValueInfoProto> matches;
        if (named is not null)
        {
            probed.TryGetValue(named.Name, out ProbedTensor? t);
            if (!IsLogitsShape(t, batch))
            {
                throw new ModelFormatException(
                    $"{source}: output 'logits' has shape {(t is null ? "unknown" : GraphEdit.ShapeText(t.Shape))}, not [batch, classes]; " +
                    "export the model for image classification (optimum-cli export onnx --task image-classification).");
            }

            matches = [named];
        }
        else
        {
            matches = [.. outputs.Where(o => probed.TryGetValue(o.Name, out ProbedTensor? t) && IsLogitsShape(t, batch)
                && !o.Name.Contains("pooler", StringComparison.OrdinalIgnoreCase)
                && !o.Name.Contains("embed", StringComparison.OrdinalIgnoreCase))];
        }

        if (matches.Count == 0 && named is null)
        {
            return (null, 0, 0); // a backbone without a classifier (DINO, ViTModel): attention outputs only
        }

        if (matches.Count != 1)
        {
            string all = string.Join(", ", outputs.Select(o => probed.TryGetValue(o.Name, out ProbedTensor? t) ? $"{o.Name} {GraphEdit.ShapeText(t.Shape)}" : o.Name));
            throw new ModelFormatException(
                $"{source}: cannot tell which output holds the class logits ({(matches.Count == 0 ? "none" : "several")} of " +
                $"the outputs {all} is [batch, classes]). The library needs an image-classification export: " +
                "`optimum-cli export onnx --model <model id> --task image-classification <output folder>`.");
        }

        ProbedTensor logits = probed[matches[0].Name];
        int elemType = logits.Type switch
        {
            TensorElementType.Float => (int)TensorProto.Types.DataType.Float,
            TensorElementType.Float16 => (int)TensorProto.Types.DataType.Float16,
            TensorElementType.BFloat16 => (int)TensorProto.Types.DataType.Bfloat16,
            TensorElementType.Double => (int)TensorProto.Types.DataType.Double,
            _ => 0,
        };
        if (elemType == 0 || logits.Shape[1] > 1 << 20)
        {
            throw new ModelFormatException(
                $"{source}: output '{matches[0].Name}' is {logits.Type} {GraphEdit.ShapeText(logits.Shape)}; the library reads float32 " +
                "logits with at most 2^20 classes. Use the float32 export.");
        }

        string name = matches[0].Name;
        if (name == PreparedModel.LogitsOutput && elemType != (int)TensorProto.Types.DataType.Float)
        {
            // A float16 'logits': keep it under another name and add a float32 'logits' cast from it.
            name = GraphEdit.RenameValue(graph, initializers, name, name + "_" + ((TensorProto.Types.DataType)elemType).ToString().ToLowerInvariant());
        }

        return (name, (int)logits.Shape[1], elemType);
    }

    // Node that turns the exposed tensor into float32 under the output name.
    internal static NodeProto ToFloat(string from, string to, int elemType, SoftmaxCandidate? quantized, HashSet<string> nodeNames)
    {
        string nodeName = "VitAttention/" + to;
        for (int k = 1; !nodeNames.Add(nodeName); k++)
        {
            nodeName = "VitAttention/" + to + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        var node = new NodeProto { Name = nodeName, Input = { from }, Output = { to } };
        if (quantized?.DequantScale is not null)
        {
            node.OpType = "DequantizeLinear";
            node.Input.Add(quantized.DequantScale);
            if (quantized.DequantZeroPoint is { Length: > 0 })
            {
                node.Input.Add(quantized.DequantZeroPoint);
            }
        }
        else if (elemType == (int)TensorProto.Types.DataType.Float)
        {
            node.OpType = "Identity";
        }
        else
        {
            node.OpType = "Cast";
            node.Attribute.Add(new AttributeProto
            {
                Name = "to",
                Type = AttributeProto.Types.AttributeType.Int,
                I = (long)TensorProto.Types.DataType.Float,
            });
        }

        return node;
    }

    // Appends the exposing nodes (after every producer, so the node list stays topologically sorted) and the outputs.
    // Returns true when the graph already had exactly these outputs.
    internal static bool Add(
        GraphProto graph, HashSet<string> initializers, OnnxImageInput input, List<AttentionSoftmax> layers, string? logitsSource, int classes, int logitsType, string source)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var values = new HashSet<string>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            foreach (string o in node.Output)
            {
                producers[o] = node;
                values.Add(o);
            }
        }

        values.UnionWith(graph.Input.Select(i => i.Name));
        values.UnionWith(initializers);
        var outputNames = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);

        bool already = true;
        for (int l = 0; l < layers.Count; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            // Already an output: the exposed tensor itself (a graph built with its Softmax output named so), or a
            // conversion of it that an earlier exposure added.
            bool exposedBefore = outputNames.Contains(name)
                && (name == layers[l].ExposeName
                    || (producers.TryGetValue(name, out NodeProto? p) && p.OpType is "Identity" or "Cast" or "DequantizeLinear"
                        && p.Input.Count > 0 && p.Input[0] == layers[l].ExposeName));
            if (!exposedBefore)
            {
                already = false;
                if (values.Contains(name))
                {
                    throw new ModelFormatException(
                        $"{source}: the graph already has a value named '{name}' that is not layer {l}'s attention; " +
                        "it cannot take the attention outputs. Was it prepared for another model?");
                }
            }
        }

        if (already && logitsSource is null or PreparedModel.LogitsOutput)
        {
            return true;
        }

        var nodeNames = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
        var batch = input.BatchDim.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.None
            ? GraphEdit.Symbolic("batch")
            : input.BatchDim;
        bool staticSize = input.StaticHeight is not null && input.StaticWidth is not null;
        for (int l = 0; l < layers.Count && !already; l++)
        {
            AttentionSoftmax a = layers[l];
            string name = PreparedModel.AttentionOutput(l);
            graph.Node.Add(ToFloat(a.ExposeName, name, a.ElemType, a.Candidate, nodeNames));
            graph.Output.Add(GraphEdit.FloatOutput(name, batch.Clone(), GraphEdit.Fixed(a.Heads),
                staticSize ? GraphEdit.Fixed(a.Tokens) : GraphEdit.Symbolic("tokens"), staticSize ? GraphEdit.Fixed(a.Tokens) : GraphEdit.Symbolic("tokens")));
        }

        if (logitsSource is not null and not PreparedModel.LogitsOutput)
        {
            if (values.Contains(PreparedModel.LogitsOutput))
            {
                throw new ModelFormatException(
                    $"{source}: the graph has a value named 'logits' that is not its [batch, classes] output '{logitsSource}'; rename it.");
            }

            graph.Node.Add(ToFloat(logitsSource, PreparedModel.LogitsOutput, logitsType, null, nodeNames));
            graph.Output.Add(GraphEdit.FloatOutput(PreparedModel.LogitsOutput, batch.Clone(), GraphEdit.Fixed(classes)));
        }

        return already;
    }

    internal static int? FindPatchSize(GraphProto graph, string inputName)
    {
        // The image, or its float16 cast (see ImageInputFinder.ConvertFloat16Input).
        var image = new HashSet<string>(StringComparer.Ordinal) { inputName };
        image.UnionWith(graph.Node.Where(n => n.OpType == "Cast" && n.Input.Count == 1 && n.Input[0] == inputName).Select(n => n.Output[0]));
        foreach (NodeProto node in graph.Node)
        {
            if (node.OpType != "Conv" || node.Input.Count == 0 || !image.Contains(node.Input[0]))
            {
                continue;
            }

            var kernel = node.Attribute.FirstOrDefault(a => a.Name == "kernel_shape")?.Ints;
            var strides = node.Attribute.FirstOrDefault(a => a.Name == "strides")?.Ints;
            if (kernel is { Count: 2 } && strides is { Count: 2 } && kernel[0] == kernel[1] && strides[0] == kernel[0]
                && strides[1] == kernel[1] && kernel[0] is > 0 and <= 8192)
            {
                return (int)kernel[0];
            }
        }

        return null;
    }
}
