using Onnx;

namespace VitAttention.Onnx.Gradients;

/// <summary>
/// Finds, by graph structure, the input and the output of the last block's first LayerNorm (<c>norm1</c> in timm,
/// <c>layernorm_before</c> in Hugging Face): the tensors pytorch-grad-cam's ViT recipe reads.
/// </summary>
/// <remarks>
/// From the last layer's attention probabilities: back to their Softmax (through Identity, Cast, Dropout, Reshape),
/// back from its input to the MatMul of two activations (Q·Kᵀ; additive biases and scales that do not depend on the
/// image are passed), then from that MatMul's first operand (Q) back through reshapes, transposes, gathers, slices,
/// splits and elementwise ops with one image-dependent operand, to the first MatMul or Gemm with one image-dependent
/// operand (the Q or fused QKV projection): that operand is the norm's output. Its input is the input of the
/// <c>LayerNormalization</c> node that produced it or, for the opset &lt; 17 decomposition torch.onnx writes
/// (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add), the x of the nearest <c>Sub(x, ReduceMean(x))</c>.
/// </remarks>
internal static class Norm1Locator
{
    private const int MaxSteps = 16;

    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
    {
        "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Gather", "Split", "Slice", "Identity", "Cast", "Dropout",
        "Mul", "Div", "Add", "Sub", "Flatten",
    };

    public sealed record Result(string? Input, string? Output, string? Reason);

    public static Result Find(GraphIndex index, string attention, HashSet<string> imageDependent)
    {
        // 1. The Softmax that produced the probabilities.
        string t = attention;
        NodeProto? softmax = null;
        for (int step = 0; step < MaxSteps && index.Producers.TryGetValue(t, out NodeProto? p); step++)
        {
            if (p.OpType == "Softmax")
            {
                softmax = p;
                break;
            }

            if (p.OpType is not ("Identity" or "Cast" or "Dropout" or "Reshape"))
            {
                break;
            }

            t = p.Input[0];
        }

        if (softmax is null)
        {
            return new Result(null, null, $"the last attention '{attention}' is not the output of a Softmax");
        }

        // 2. Q·Kᵀ: the nearest MatMul of two image-dependent tensors above the Softmax.
        NodeProto? scores = null;
        var queue = new Queue<(string Name, int Depth)>();
        queue.Enqueue((softmax.Input[0], 0));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (scores is null && queue.Count > 0)
        {
            (string name, int depth) = queue.Dequeue();
            if (!seen.Add(name) || depth > MaxSteps || !index.Producers.TryGetValue(name, out NodeProto? p))
            {
                continue;
            }

            if (p.OpType == "MatMul" && p.Input.Count == 2 && imageDependent.Contains(p.Input[0]) && imageDependent.Contains(p.Input[1]))
            {
                scores = p;
                break;
            }

            foreach (string input in p.Input.Where(imageDependent.Contains))
            {
                queue.Enqueue((input, depth + 1));
            }
        }

        if (scores is null)
        {
            return new Result(null, null, $"no Q·Kᵀ MatMul was found above softmax '{softmax.Name}'");
        }

        // 3. Back from Q to the projection's input.
        string q = scores.Input[0];
        string? normOutput = null;
        for (int step = 0; step < MaxSteps && normOutput is null; step++)
        {
            if (!index.Producers.TryGetValue(q, out NodeProto? p))
            {
                break;
            }

            var dependent = p.Input.Where(i => i.Length > 0 && imageDependent.Contains(i)).Distinct().ToList();
            if (dependent.Count != 1)
            {
                break;
            }

            if (p.OpType is "MatMul" or "Gemm")
            {
                normOutput = dependent[0];
            }
            else if (PassThrough.Contains(p.OpType))
            {
                q = dependent[0];
            }
            else
            {
                break;
            }
        }

        if (normOutput is null)
        {
            return new Result(null, null, $"the query projection that feeds '{scores.Name}' was not found");
        }

        // 4. The norm's input.
        if (index.Producers.TryGetValue(normOutput, out NodeProto? norm) && norm.OpType == "LayerNormalization")
        {
            return new Result(norm.Input[0], normOutput, null);
        }

        var search = new Queue<(string Name, int Depth)>();
        search.Enqueue((normOutput, 0));
        seen.Clear();
        while (search.Count > 0)
        {
            (string name, int depth) = search.Dequeue();
            if (!seen.Add(name) || depth > 10 || !index.Producers.TryGetValue(name, out NodeProto? p))
            {
                continue;
            }

            if (p.OpType == "Sub" && p.Input.Count == 2 && index.Producers.TryGetValue(p.Input[1], out NodeProto? mean)
                && mean.OpType == "ReduceMean" && mean.Input.Count > 0 && mean.Input[0] == p.Input[0])
            {
                return new Result(p.Input[0], normOutput, null);
            }

            foreach (string input in p.Input.Where(imageDependent.Contains))
            {
                search.Enqueue((input, depth + 1));
            }
        }

        return new Result(null, null, $"'{normOutput}', the input of the query projection, is not the output of a LayerNorm");
    }
}
