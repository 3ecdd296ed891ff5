using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace VitAttention.Onnx;

/// <summary>Finds the attention Softmax nodes of an ONNX graph by structure, and checks them against probed shapes.</summary>
internal static class SoftmaxSearch
{
    internal const int MaxPassThrough = 6;

    internal const string WindowedReason = "windowed attention (Swin-like models) is not supported";

    internal static bool IsSoftmax(NodeProto n) =>
        (n.OpType == "Softmax" && n.Domain is "" or "ai.onnx") || (n.OpType == "QLinearSoftmax" && n.Domain == "com.microsoft");

    internal static List<SoftmaxCandidate> FindCandidates(
        GraphProto graph, Dictionary<string, List<(NodeProto Node, int Index)>> consumers, HashSet<string> initializers, long opset)
    {
        var found = new List<SoftmaxCandidate>();
        for (int i = 0; i < graph.Node.Count; i++)
        {
            NodeProto node = graph.Node[i];
            if (!IsSoftmax(node) || node.Output.Count == 0 || node.Output[0].Length == 0)
            {
                continue;
            }

            AttributeProto? axisAttribute = node.Attribute.FirstOrDefault(a => a.Name == "axis");
            long? axis = axisAttribute?.I;
            bool quantized = node.OpType == "QLinearSoftmax";
            if (quantized)
            {
                axis ??= -1;
            }
            else if (axis is null && opset >= 13)
            {
                axis = -1;
            }

            // Walk forward through pass-through nodes to the first MatMul-like consumer that takes it as input A.
            var queue = new Queue<(string Name, string? AfterReshape, int Steps)>();
            queue.Enqueue((node.Output[0], null, 0));
            SoftmaxCandidate? candidate = null;
            while (candidate is null && queue.Count > 0)
            {
                (string name, string? afterReshape, int steps) = queue.Dequeue();
                if (!consumers.TryGetValue(name, out var uses))
                {
                    continue;
                }

                foreach ((NodeProto use, int index) in uses)
                {
                    string? valueInput = MatMulValueInput(use, index);
                    if (valueInput is not null && !initializers.Contains(valueInput))
                    {
                        candidate = new SoftmaxCandidate(node, i, axis, node.Output[0], afterReshape, valueInput,
                            quantized && node.Input.Count > 3 ? node.Input[3] : null,
                            quantized && node.Input.Count > 4 ? node.Input[4] : null);
                        break;
                    }

                    if (steps < MaxPassThrough && index == 0 && use.Output.Count > 0 && use.Output[0].Length > 0
                        && use.Domain is "" or "ai.onnx")
                    {
                        switch (use.OpType)
                        {
                            case "Identity" or "Dropout" or "Cast" or "QuantizeLinear" or "DequantizeLinear" or "DynamicQuantizeLinear":
                                queue.Enqueue((use.Output[0], afterReshape, steps + 1));
                                break;
                            case "Reshape" when afterReshape is null:
                                queue.Enqueue((use.Output[0], use.Output[0], steps + 1));
                                break;
                            default:
                                break;
                        }
                    }
                }
            }

            if (candidate is not null)
            {
                found.Add(candidate);
            }
        }

        return found;
    }

    // The operand that multiplies the probabilities (V) when the probabilities are input A of this node, else null.
    internal static string? MatMulValueInput(NodeProto node, int index)
    {
        if (index != 0)
        {
            return null;
        }

        int valueIndex = (node.Domain, node.OpType) switch
        {
            ("" or "ai.onnx", "MatMul") => 1,
            ("" or "ai.onnx", "MatMulInteger") => 1,
            ("" or "ai.onnx", "QLinearMatMul") => 3,
            ("com.microsoft", "MatMulIntegerToFloat") => 1,
            _ => -1,
        };
        return valueIndex >= 0 && node.Input.Count > valueIndex && node.Input[valueIndex].Length > 0 ? node.Input[valueIndex] : null;
    }

    internal static bool Check(SoftmaxCandidate c, Dictionary<string, ProbedTensor> probed, int batch, long opset, out AttentionSoftmax? ok, out string? reason)
    {
        ok = null;
        string name = $"softmax '{c.Softmax.Name}'";
        if (!probed.TryGetValue(c.Raw, out ProbedTensor? raw))
        {
            reason = $"{name}: its output is not a tensor";
            return false;
        }

        int rank = raw.Shape.Length;
        long axis = c.Axis ?? 1;
        long normalised = axis < 0 ? axis + rank : axis;
        if (normalised != rank - 1)
        {
            reason = c.Axis is null
                ? $"{name} uses opset {opset}'s default axis 1 on a rank-{rank} input, which normalises over all axes after the first, not over keys"
                : $"{name} normalises over axis {axis} of a rank-{rank} tensor, not the last axis";
            return false;
        }

        string exposeName = c.Raw;
        ProbedTensor exposed = raw;
        if (rank != 4)
        {
            if (rank == 2 && c.AfterReshape is not null && probed.TryGetValue(c.AfterReshape, out ProbedTensor? reshaped)
                && reshaped.Shape.Length == 4 && reshaped.Shape[3] == raw.Shape[1] && c.DequantScale is null)
            {
                exposeName = c.AfterReshape;
                exposed = reshaped;
            }
            else
            {
                reason = $"{name}: its output {GraphEdit.ShapeText(raw.Shape)} is not [batch, heads, tokens, tokens]";
                return false;
            }
        }

        long[] s = exposed.Shape;
        if (s[0] != batch)
        {
            reason = $"{name}: its first dimension {s[0]} is not the batch ({batch}): {WindowedReason}";
            return false;
        }

        if (s[2] != s[3] || s[1] <= 0 || s[2] <= 0)
        {
            reason = $"{name}: its output {GraphEdit.ShapeText(s)} has last two dimensions that differ, so it is not self-attention over tokens";
            return false;
        }

        if (!probed.TryGetValue(c.ValueInput, out ProbedTensor? v) || v.Shape.Length != 4 || v.Shape[0] != s[0]
            || v.Shape[1] != s[1] || v.Shape[2] != s[3] || v.Shape[3] <= 0)
        {
            string vShape = v is null ? "unknown" : GraphEdit.ShapeText(v.Shape);
            reason = $"{name}: the MatMul's other operand '{c.ValueInput}' is {vShape}, not [batch, heads, tokens, head_dim] for probabilities {GraphEdit.ShapeText(s)}";
            return false;
        }

        int elemType;
        if (c.DequantScale is not null)
        {
            elemType = (int)TensorProto.Types.DataType.Uint8;
        }
        else
        {
            elemType = exposed.Type switch
            {
                TensorElementType.Float => (int)TensorProto.Types.DataType.Float,
                TensorElementType.Float16 => (int)TensorProto.Types.DataType.Float16,
                TensorElementType.BFloat16 => (int)TensorProto.Types.DataType.Bfloat16,
                TensorElementType.Double => (int)TensorProto.Types.DataType.Double,
                _ => 0,
            };
            if (elemType == 0)
            {
                reason = $"{name}: its output has element type {exposed.Type}, not a floating-point type";
                return false;
            }
        }

        if (s[1] > int.MaxValue || s[2] > int.MaxValue || v.Shape[3] > int.MaxValue)
        {
            reason = $"{name}: its output {GraphEdit.ShapeText(s)} is too large";
            return false;
        }

        ok = new AttentionSoftmax(c, exposeName, elemType, (int)s[1], (int)s[2], (int)v.Shape[3]);
        reason = null;
        return true;
    }
}
