using Onnx;

namespace VitAttention.Onnx.Gradients;

/// <summary>The backward rule of each supported op: given d/d(outputs), the contributions to d/d(inputs).</summary>
internal sealed partial class GradientGraph
{
    private void Backward(NodeProto node, string?[] outputGrads)
    {
        string? g = outputGrads.Length > 0 ? outputGrads[0] : null;
        string x = node.Input.Count > 0 ? node.Input[0] : string.Empty;
        string y = node.Output[0];
        switch (node.OpType)
        {
            case "Identity" or "Dropout":
                if (g is not null)
                {
                    Contribute(x, g);
                }

                break;
            case "Cast":
                Contribute(x, _index.ElemType(x) == _index.ElemType(y) ? g! : _emit.Cast(g!, _index.ElemType(x)));
                break;
            case "Neg":
                Contribute(x, _emit.Neg(g!));
                break;
            case "Add" or "Sum":
                foreach (string input in node.Input.Where(_path.Contains))
                {
                    Contribute(input, Unbroadcast(g!, ShapeOf(y), input)); // once per occurrence: Add(x, x) gives 2g
                }

                break;
            case "Sub":
                if (_path.Contains(node.Input[0]))
                {
                    Contribute(node.Input[0], Unbroadcast(g!, ShapeOf(y), node.Input[0]));
                }

                if (_path.Contains(node.Input[1]))
                {
                    Contribute(node.Input[1], Unbroadcast(_emit.Neg(g!), ShapeOf(y), node.Input[1]));
                }

                break;
            case "Mul":
                if (_path.Contains(node.Input[0]))
                {
                    Contribute(node.Input[0], Unbroadcast(_emit.Mul(g!, node.Input[1]), ShapeOf(y), node.Input[0]));
                }

                if (_path.Contains(node.Input[1]))
                {
                    Contribute(node.Input[1], Unbroadcast(_emit.Mul(g!, node.Input[0]), ShapeOf(y), node.Input[1]));
                }

                break;
            case "Div":
                if (_path.Contains(node.Input[0]))
                {
                    Contribute(node.Input[0], Unbroadcast(_emit.Div(g!, node.Input[1]), ShapeOf(y), node.Input[0]));
                }

                if (_path.Contains(node.Input[1]))
                {
                    // d(a/b)/db = −(a/b)/b
                    string term = _emit.Neg(_emit.Mul(g!, _emit.Div(y, node.Input[1])));
                    Contribute(node.Input[1], Unbroadcast(term, ShapeOf(y), node.Input[1]));
                }

                break;
            case "Pow":
                PowBackward(node, g!);
                break;
            case "Sqrt":
                Contribute(x, _emit.Div(g!, _emit.Mul(y, Scalar(y, 2))));
                break;
            case "Reciprocal":
                Contribute(x, _emit.Neg(_emit.Mul(g!, _emit.Mul(y, y))));
                break;
            case "Exp":
                Contribute(x, _emit.Mul(g!, y));
                break;
            case "Log":
                Contribute(x, _emit.Div(g!, x));
                break;
            case "Erf":
                // d erf(x)/dx = 2/√π · exp(−x²)
                Contribute(x, _emit.Mul(g!, _emit.Mul(Scalar(x, 2 / Math.Sqrt(Math.PI)), _emit.Unary("Exp", _emit.Neg(_emit.Mul(x, x))))));
                break;
            case "Tanh":
                Contribute(x, _emit.Mul(g!, _emit.Sub(Scalar(y, 1), _emit.Mul(y, y))));
                break;
            case "Sigmoid":
                Contribute(x, _emit.Mul(g!, _emit.Mul(y, _emit.Sub(Scalar(y, 1), y))));
                break;
            case "Relu":
                Contribute(x, _emit.Where(_emit.Binary("Greater", x, Scalar(x, 0)), g!, Scalar(x, 0)));
                break;
            case "Gelu":
                GeluBackward(node, g!);
                break;
            case "Softmax" or "LogSoftmax":
                SoftmaxBackward(node, g!);
                break;
            case "ReduceMean" or "ReduceSum":
                ReduceBackward(node, g!);
                break;
            case "LayerNormalization":
                LayerNormBackward(node, outputGrads);
                break;
            case "MatMul":
                MatMulBackward(node, g!);
                break;
            case "Gemm":
                GemmBackward(node, g!);
                break;
            case "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze":
                Contribute(x, _emit.Reshape(g!, _emit.Shape(x)));
                break;
            case "Transpose":
                TransposeBackward(node, g!);
                break;
            case "Concat":
                ConcatBackward(node, g!);
                break;
            case "Split":
                SplitBackward(node, outputGrads);
                break;
            case "Slice":
                SliceBackward(node, g!);
                break;
            case "Gather":
                GatherBackward(node, g!);
                break;
            case "Expand":
                Contribute(x, Unbroadcast(g!, ShapeOf(y), x));
                break;
            case "Where":
                string zero = Scalar(y, 0);
                if (_path.Contains(node.Input[1]))
                {
                    Contribute(node.Input[1], Unbroadcast(_emit.Where(node.Input[0], g!, zero), ShapeOf(y), node.Input[1]));
                }

                if (_path.Contains(node.Input[2]))
                {
                    Contribute(node.Input[2], Unbroadcast(_emit.Where(node.Input[0], zero, g!), ShapeOf(y), node.Input[2]));
                }

                break;
            default:
                throw Unsupported(_source, node, $"the gradient graph has no backward rule for {node.OpType}");
        }
    }

    private string Scalar(string like, double value) => _emit.Scalar(_index.ElemType(like), value);

    /// <summary>Sums a gradient of shape <paramref name="gradShape"/> down to the shape of <paramref name="input"/> (numpy broadcasting undone).</summary>
    private string Unbroadcast(string gradient, long[] gradShape, string input)
    {
        long[] target = ShapeOf(input);
        int lead = gradShape.Length - target.Length;
        if (lead < 0)
        {
            throw new InvalidOperationException($"internal error: gradient {Text(gradShape)} has lower rank than '{input}' {Text(target)}");
        }

        var axes = new List<long>();
        for (int i = 0; i < lead; i++)
        {
            axes.Add(i);
        }

        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == 1 && gradShape[lead + i] != 1)
            {
                axes.Add(lead + i);
            }
        }

        if (axes.Count == 0)
        {
            return gradient;
        }

        string reduced = _emit.ReduceSum(gradient, [.. axes], keepDims: true);
        return lead > 0 ? _emit.Squeeze(reduced, [.. Enumerable.Range(0, lead).Select(i => (long)i)]) : reduced;
    }

    private void PowBackward(NodeProto node, string g)
    {
        string x = node.Input[0], e = node.Input[1], y = node.Output[0];
        if (_path.Contains(e))
        {
            throw Unsupported(_source, node, "Pow whose exponent depends on the image has no backward rule");
        }

        string term;
        double[]? value = _index.ConstantReals(e) ?? _index.ConstantIntegers(e)?.Select(v => (double)v).ToArray();
        if (value is [double v])
        {
            term = v switch
            {
                1 => g,
                2 => _emit.Mul(g, _emit.Mul(x, Scalar(x, 2))),
                _ => _emit.Mul(g, _emit.Mul(Scalar(x, v), _emit.Binary("Pow", x, Scalar(x, v - 1)))),
            };
        }
        else
        {
            string exponent = _index.ElemType(e) == _index.ElemType(x) ? e : _emit.Cast(e, _index.ElemType(x));
            term = _emit.Mul(g, _emit.Mul(exponent, _emit.Binary("Pow", x, _emit.Sub(exponent, Scalar(x, 1)))));
        }

        Contribute(x, Unbroadcast(term, ShapeOf(y), x));
    }

    private void GeluBackward(NodeProto node, string g)
    {
        string x = node.Input[0];
        string approximate = GraphIndex.Attribute(node, "approximate")?.S.ToStringUtf8() ?? "none";
        if (approximate != "none")
        {
            throw Unsupported(_source, node, $"Gelu with approximate='{approximate}' has no backward rule (only the exact erf form)");
        }

        // d/dx x·Φ(x) = Φ(x) + x·φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π)
        string phiCdf = _emit.Mul(Scalar(x, 0.5), _emit.Add(Scalar(x, 1), _emit.Unary("Erf", _emit.Mul(x, Scalar(x, 1 / Math.Sqrt(2))))));
        string pdf = _emit.Mul(Scalar(x, 1 / Math.Sqrt(2 * Math.PI)), _emit.Unary("Exp", _emit.Mul(_emit.Mul(x, x), Scalar(x, -0.5))));
        Contribute(x, _emit.Mul(g, _emit.Add(phiCdf, _emit.Mul(x, pdf))));
    }

    private long[] NormalizedAxes(IEnumerable<long> axes, int rank) => [.. axes.Select(a => a < 0 ? a + rank : a).Order()];

    private void SoftmaxBackward(NodeProto node, string g)
    {
        string x = node.Input[0], y = node.Output[0];
        int rank = ShapeOf(x).Length;
        long axis = GraphIndex.IntAttribute(node, "axis") ?? (_index.Opset >= 13 ? -1 : 1);
        long a = axis < 0 ? axis + rank : axis;
        // Before opset 13 the op normalises over every axis from `axis` on (the input flattened to 2-D there).
        long[] axes = _index.Opset >= 13 ? [a] : [.. Enumerable.Range((int)a, rank - (int)a).Select(i => (long)i)];
        if (node.OpType == "Softmax")
        {
            // dx = y ⊙ (g − Σ g ⊙ y)
            string dot = _emit.ReduceSum(_emit.Mul(g, y), axes, keepDims: true);
            Contribute(x, _emit.Mul(y, _emit.Sub(g, dot)));
        }
        else
        {
            // y = x − log Σ exp x: dx = g − exp(y) ⊙ Σ g
            string total = _emit.ReduceSum(g, axes, keepDims: true);
            Contribute(x, _emit.Sub(g, _emit.Mul(_emit.Unary("Exp", y), total)));
        }
    }

    private long[]? ReduceAxes(NodeProto node)
    {
        long[]? axes = GraphIndex.IntsAttribute(node, "axes");
        if (axes is null && node.Input.Count > 1 && node.Input[1].Length > 0)
        {
            axes = _index.ConstantIntegers(node.Input[1])
                ?? throw Unsupported(_source, node, $"{node.OpType} with axes computed at run time has no backward rule");
        }

        return axes;
    }

    private void ReduceBackward(NodeProto node, string g)
    {
        string x = node.Input[0], y = node.Output[0];
        long[] xShape = ShapeOf(x);
        int rank = xShape.Length;
        long[]? axes = ReduceAxes(node);
        if (axes is null || axes.Length == 0)
        {
            if (GraphIndex.IntAttribute(node, "noop_with_empty_axes") == 1)
            {
                Contribute(x, g);
                return;
            }

            axes = [.. Enumerable.Range(0, rank).Select(i => (long)i)];
        }

        long[] normalized = NormalizedAxes(axes, rank);
        bool keep = (GraphIndex.IntAttribute(node, "keepdims") ?? 1) != 0;
        string kept = keep ? g : _emit.Unsqueeze(g, normalized);
        string spread = _emit.Expand(kept, _emit.Shape(x));
        if (node.OpType == "ReduceMean")
        {
            if (normalized.All(a => xShape[a] > 0))
            {
                long count = normalized.Aggregate(1L, (p, a) => p * xShape[a]);
                spread = _emit.Mul(spread, Scalar(x, 1.0 / count));
            }
            else
            {
                // A reduced axis follows the batch: count = size(x) / size(y), at run time.
                string count = _emit.Div(_emit.Cast(_emit.Unary("Size", x), _index.ElemType(x)), _emit.Cast(_emit.Unary("Size", y), _index.ElemType(x)));
                spread = _emit.Div(spread, count);
            }
        }

        Contribute(x, spread);
    }

    private void LayerNormBackward(NodeProto node, string?[] outputGrads)
    {
        string x = node.Input[0];
        for (int k = 1; k < node.Input.Count; k++)
        {
            if (_path.Contains(node.Input[k]))
            {
                throw Unsupported(_source, node, "LayerNormalization whose scale or bias depends on the image has no backward rule");
            }
        }

        for (int k = 1; k < outputGrads.Length; k++)
        {
            if (outputGrads[k] is not null)
            {
                throw Unsupported(_source, node, "LayerNormalization whose Mean or InvStdDev output is used has no backward rule");
            }
        }

        string g = outputGrads[0]!;
        int rank = ShapeOf(x).Length;
        long axis = GraphIndex.IntAttribute(node, "axis") ?? -1;
        long a = axis < 0 ? axis + rank : axis;
        long[] axes = [.. Enumerable.Range((int)a, rank - (int)a).Select(i => (long)i)];
        double eps = GraphIndex.Attribute(node, "epsilon")?.F ?? 1e-5;

        // x̂ = (x − μ)·r with r = 1/√(σ² + ε); gs = g ⊙ scale; dx = r · (gs − mean(gs) − x̂ · mean(gs ⊙ x̂)) over the
        // normalised axes. In float32 μ and r are the forward node's own Mean and InvStdDev outputs (added to it when
        // unused; they are float32, stash_type 1); otherwise they are recomputed from x.
        string mean, r;
        if (_index.ElemType(x) == TensorValues.Float && (GraphIndex.IntAttribute(node, "stash_type") ?? 1) == 1)
        {
            while (node.Output.Count < 3)
            {
                node.Output.Add(string.Empty);
            }

            for (int k = 1; k < 3; k++)
            {
                if (node.Output[k].Length == 0)
                {
                    node.Output[k] = _emit.Fresh(k == 1 ? "layernorm_mean" : "layernorm_inv_std");
                }
            }

            mean = node.Output[1];
            r = node.Output[2];
        }
        else
        {
            mean = _emit.ReduceMean(x, axes, keepDims: true);
            string deviation = _emit.Sub(x, mean);
            string variance = _emit.ReduceMean(_emit.Mul(deviation, deviation), axes, keepDims: true);
            r = _emit.Unary("Reciprocal", _emit.Unary("Sqrt", _emit.Add(variance, Scalar(x, eps))));
        }

        string xhat = _emit.Mul(_emit.Sub(x, mean), r);
        string gs = node.Input.Count > 1 && node.Input[1].Length > 0 ? _emit.Mul(g, node.Input[1]) : g;
        string meanGs = _emit.ReduceMean(gs, axes, keepDims: true);
        string meanGsX = _emit.ReduceMean(_emit.Mul(gs, xhat), axes, keepDims: true);
        Contribute(x, _emit.Mul(r, _emit.Sub(_emit.Sub(gs, meanGs), _emit.Mul(xhat, meanGsX))));
    }

    private string TransposeLastTwo(string t)
    {
        int rank = ShapeOf(t).Length;
        long[] perm = [.. Enumerable.Range(0, rank).Select(i => (long)i)];
        (perm[rank - 1], perm[rank - 2]) = (perm[rank - 2], perm[rank - 1]);
        return _emit.Transpose(t, perm);
    }

    private void MatMulBackward(NodeProto node, string g)
    {
        string a = node.Input[0], b = node.Input[1], y = node.Output[0];
        long[] sa = ShapeOf(a), sb = ShapeOf(b), sy = ShapeOf(y);
        if (sa.Length < 2 || sb.Length < 2)
        {
            throw Unsupported(_source, node, "MatMul with a 1-D operand has no backward rule");
        }

        if (_path.Contains(a))
        {
            long[] full = [.. sy[..^2], sa[^2], sa[^1]];
            Contribute(a, Unbroadcast(_emit.MatMul(g, TransposeLastTwo(b)), full, a));
        }

        if (_path.Contains(b))
        {
            long[] full = [.. sy[..^2], sb[^2], sb[^1]];
            Contribute(b, Unbroadcast(_emit.MatMul(TransposeLastTwo(a), g), full, b));
        }
    }

    private void GemmBackward(NodeProto node, string g)
    {
        string a = node.Input[0], b = node.Input[1], y = node.Output[0];
        bool transA = GraphIndex.IntAttribute(node, "transA") == 1;
        bool transB = GraphIndex.IntAttribute(node, "transB") == 1;
        float alpha = GraphIndex.Attribute(node, "alpha")?.F ?? 1f;
        float beta = GraphIndex.Attribute(node, "beta")?.F ?? 1f;
        string Gemm(string left, string right, bool tl, bool tr) => _emit.Node("Gemm", [left, right],
            GraphEmitter.Float("alpha", alpha), GraphEmitter.Int("transA", tl ? 1 : 0), GraphEmitter.Int("transB", tr ? 1 : 0));

        if (_path.Contains(a))
        {
            // A' = op(A), B' = op(B): dA' = α·g·B'ᵀ, and dA = dA'ᵀ when A was transposed.
            Contribute(a, transA ? Gemm(b, g, transB, true) : Gemm(g, b, false, !transB));
        }

        if (_path.Contains(b))
        {
            // dB' = α·A'ᵀ·g, and dB = dB'ᵀ when B was transposed.
            Contribute(b, transB ? Gemm(g, a, true, transA) : Gemm(a, g, !transA, false));
        }

        if (node.Input.Count > 2 && node.Input[2].Length > 0 && _path.Contains(node.Input[2]))
        {
            string term = beta == 1f ? g : _emit.Mul(g, Scalar(y, beta));
            Contribute(node.Input[2], Unbroadcast(term, ShapeOf(y), node.Input[2]));
        }
    }

    private void TransposeBackward(NodeProto node, string g)
    {
        string x = node.Input[0];
        int rank = ShapeOf(x).Length;
        long[] perm = GraphIndex.IntsAttribute(node, "perm") is { Length: > 0 } p ? p : [.. Enumerable.Range(0, rank).Select(i => (long)(rank - 1 - i))];
        var inverse = new long[perm.Length];
        for (int i = 0; i < perm.Length; i++)
        {
            inverse[perm[i]] = i;
        }

        Contribute(x, _emit.Transpose(g, inverse));
    }

    private void ConcatBackward(NodeProto node, string g)
    {
        long[] sy = ShapeOf(node.Output[0]);
        long axis = GraphIndex.IntAttribute(node, "axis") ?? 0;
        if (axis < 0)
        {
            axis += sy.Length;
        }

        long offset = 0;
        foreach (string input in node.Input)
        {
            long size = ShapeOf(input)[axis];
            if (size < 0)
            {
                throw Unsupported(_source, node, "Concat along the batch dimension has no backward rule");
            }

            if (_path.Contains(input))
            {
                Contribute(input, _emit.Slice(g, [offset], [offset + size], [axis]));
            }

            offset += size;
        }
    }

    private void SplitBackward(NodeProto node, string?[] outputGrads)
    {
        string x = node.Input[0];
        long axis = GraphIndex.IntAttribute(node, "axis") ?? 0;
        var parts = new List<string>(node.Output.Count);
        for (int k = 0; k < node.Output.Count; k++)
        {
            parts.Add(outputGrads[k] ?? _emit.ZerosLike(node.Output[k], _index.ElemType(x)));
        }

        Contribute(x, _emit.Concat(parts, axis));
    }

    private void SliceBackward(NodeProto node, string g)
    {
        string x = node.Input[0];
        long[] sx = ShapeOf(x);
        long[]? starts = node.Input.Count > 1 ? _index.ConstantIntegers(node.Input[1]) : GraphIndex.IntsAttribute(node, "starts");
        long[]? ends = node.Input.Count > 2 ? _index.ConstantIntegers(node.Input[2]) : GraphIndex.IntsAttribute(node, "ends");
        long[]? axes = node.Input.Count > 3 && node.Input[3].Length > 0 ? _index.ConstantIntegers(node.Input[3])
            : node.Input.Count > 3 ? null : GraphIndex.IntsAttribute(node, "axes");
        long[]? steps = node.Input.Count > 4 && node.Input[4].Length > 0 ? _index.ConstantIntegers(node.Input[4]) : null;
        if (starts is null || ends is null || (node.Input.Count > 3 && node.Input[3].Length > 0 && axes is null)
            || (node.Input.Count > 4 && node.Input[4].Length > 0 && steps is null))
        {
            throw Unsupported(_source, node, "Slice with bounds computed at run time has no backward rule");
        }

        axes ??= [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
        var pads = new long[2 * sx.Length];
        for (int i = 0; i < axes.Length; i++)
        {
            long axis = axes[i] < 0 ? axes[i] + sx.Length : axes[i];
            long step = steps?[i] ?? 1;
            if (step != 1)
            {
                throw Unsupported(_source, node, $"Slice with step {step} has no backward rule (only step 1)");
            }

            long dim = sx[axis];
            long start = starts[i], end = ends[i];
            if (dim < 0)
            {
                if (start == 0 && end >= int.MaxValue)
                {
                    continue; // the whole batch axis
                }

                throw Unsupported(_source, node, "Slice of the batch dimension has no backward rule");
            }

            start = Math.Clamp(start < 0 ? start + dim : start, 0, dim);
            end = Math.Clamp(end < 0 ? end + dim : end, 0, dim);
            pads[axis] = start;
            pads[sx.Length + axis] = dim - Math.Max(start, end);
        }

        Contribute(x, pads.All(p => p == 0) ? g : _emit.Pad(g, pads));
    }

    private void GatherBackward(NodeProto node, string g)
    {
        string x = node.Input[0];
        long[] sx = ShapeOf(x);
        long axis = GraphIndex.IntAttribute(node, "axis") ?? 0;
        if (axis < 0)
        {
            axis += sx.Length;
        }

        long[]? indices = _index.ConstantIntegers(node.Input[1]);
        long[]? indexDims = _index.ConstantDims(node.Input[1]);
        long dim = sx[axis];
        if (indices is null || indexDims is null)
        {
            throw Unsupported(_source, node, "Gather with indices computed at run time has no backward rule");
        }

        if (dim < 0)
        {
            throw Unsupported(_source, node, "Gather along the batch dimension has no backward rule");
        }

        long[] normalized = [.. indices.Select(i => i < 0 ? i + dim : i)];
        if (indexDims.Length == 0)
        {
            // One index: g goes back at that position, zeros elsewhere (see ScatterGathers, which also joins the
            // Gathers of the other indices of the same tensor into one Concat).
            if (_path.Contains(x))
            {
                if (_totals.ContainsKey(x))
                {
                    throw new InvalidOperationException($"internal error: gradient of '{x}' changed after it was summed");
                }

                if (!_gatherParts.TryGetValue(x, out var parts))
                {
                    _gatherParts[x] = parts = [];
                }

                parts.Add((axis, normalized[0], dim, g));
            }

            return;
        }

        if (indexDims.Length != 1)
        {
            throw Unsupported(_source, node, $"Gather with rank-{indexDims.Length} indices has no backward rule (scalar or 1-D only)");
        }

        // 1-D indices: g's axis holds k = |indices| entries; dx = g ·_axis M with M[k, indices[k]] = 1 (repeats add up).
        int k = normalized.Length;
        var m = new double[k * dim];
        for (int i = 0; i < k; i++)
        {
            m[(i * dim) + normalized[i]] = 1;
        }

        string matrix = _emit.Constant(TensorValues.RealTensor(_index.ElemType(x), m, k, dim));
        int rank = sx.Length;
        if (axis == rank - 1)
        {
            Contribute(x, _emit.MatMul(g, matrix));
            return;
        }

        long[] perm = [.. Enumerable.Range(0, rank).Where(i => i != axis).Select(i => (long)i), axis];
        var inverse = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            inverse[perm[i]] = i;
        }

        Contribute(x, _emit.Transpose(_emit.MatMul(_emit.Transpose(g, perm), matrix), inverse));
    }
}
