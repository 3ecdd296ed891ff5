using Microsoft.ML.OnnxRuntime;
using VitAttention.Onnx.Gradients;
using static VitAttention.Tests.Gradients.TinyGraph;

namespace VitAttention.Tests.Gradients;

/// <summary>
/// Each backward rule against central finite differences of the forward graph itself, run by ONNX Runtime: a tiny
/// graph around the op, d logits[b, target[b]] / dx from the gradient graph versus (f(x + h) − f(x − h)) / 2h per
/// element. float64 graphs (h 1e-5, tolerance 1e-6 relative); ops ONNX Runtime has only in float32 run in float32
/// (h 1e-2, tolerance 2e-3, the error of a float32 central difference).
/// </summary>
public sealed class GradientRuleTests
{
    private const int F64 = TensorValues.Double;
    private const int F32 = TensorValues.Float;

    private static TestCaseData Case(string name, int opset, long[] shape, Func<TinyGraph, string> body, int type = F64) =>
        new TestCaseData(opset, shape, body, type).SetName($"Backward_{name}_MatchesFiniteDifferences");

    public static IEnumerable<TestCaseData> Cases()
    {
        long[] s = [3, 4];
        long[] s3 = [2, 3, 4];
        yield return Case("Identity", 17, s, g => g.Node("Identity", [g.Node("Mul", [X, g.Random([4])])]));
        yield return Case("Dropout", 17, s, g => g.Node("Dropout", [g.Node("Mul", [X, X])]));
        yield return Case("AddSubBroadcastBothSides", 17, s3, g =>
        {
            string mean = g.Node("ReduceMean", [X], Ints("axes", 1), Int("keepdims", 1)); // [b, 1, 4], on the path
            string a = g.Node("Add", [X, mean]);
            return g.Node("Sub", [g.Node("Mul", [a, g.Random([4])]), g.Node("Mul", [mean, g.Random([3, 1])])]);
        });
        yield return Case("MulDivBothOnPath", 17, s3, g =>
        {
            string positive = g.Node("Add", [g.Node("Mul", [X, X]), g.Init([1.5], 1)]);
            string row = g.Node("ReduceSum", [X, g.Int64([2])], Int("keepdims", 1)); // [b, 3, 1]
            return g.Node("Div", [g.Node("Mul", [X, row]), positive]);
        });
        yield return Case("DivByBroadcastActivation", 17, s3, g =>
            g.Node("Div", [g.Random([3, 4]), g.Node("Add", [g.Node("ReduceMean", [g.Node("Mul", [X, X])], Ints("axes", 2), Int("keepdims", 1)), g.Init([0.5])])]));
        yield return Case("Sum", 17, s, g => g.Node("Sum", [X, g.Node("Mul", [X, X]), g.Node("ReduceMean", [X], Ints("axes", 1), Int("keepdims", 1))]));
        yield return Case("PowSquare", 14, s, g => g.Node("Pow", [X, g.Init([2.0])]));
        yield return Case("PowCube", 14, s, g => g.Node("Pow", [X, g.Init([3.0])]));
        yield return Case("PowHalf", 14, s, g => g.Node("Pow", [g.Node("Add", [g.Node("Mul", [X, X]), g.Init([1.0])]), g.Init([0.5])]));
        yield return Case("Sqrt", 17, s, g => g.Node("Sqrt", [g.Node("Add", [g.Node("Mul", [X, X]), g.Init([0.3])])]));
        yield return Case("Reciprocal", 17, s, g => g.Node("Reciprocal", [g.Node("Add", [g.Node("Mul", [X, X]), g.Init([0.3])])]));
        yield return Case("Neg", 17, s, g => g.Node("Neg", [g.Node("Mul", [X, X])]));
        yield return Case("Exp", 17, s, g => g.Node("Exp", [X]));
        yield return Case("Log", 17, s, g => g.Node("Log", [g.Node("Add", [g.Node("Mul", [X, X]), g.Init([0.3])])]));
        yield return Case("Erf", 17, s, g => g.Node("Erf", [g.Node("Mul", [X, g.Init([1.3])])]), F32);
        yield return Case("ErfGelu", 14, s, g =>
        {
            string erf = g.Node("Erf", [g.Node("Div", [X, g.Init([Math.Sqrt(2)])])]);
            return g.Node("Mul", [g.Node("Mul", [X, g.Node("Add", [erf, g.Init([1.0])])]), g.Init([0.5])]);
        }, F32);
        yield return Case("Tanh", 17, s, g => g.Node("Tanh", [X]));
        yield return Case("SigmoidQuickGelu", 17, s, g => g.Node("Mul", [X, g.Node("Sigmoid", [g.Node("Mul", [X, g.Init([1.702])])])]));
        yield return Case("Relu", 17, s, g => g.Node("ReduceSum", [g.Node("Relu", [X]), g.Int64([1])], Int("keepdims", 0)));
        yield return Case("GeluOpset20", 20, s, g => g.Node("Gelu", [X]), F32);
        yield return Case("SoftmaxLastAxis", 17, s3, g => g.Node("Mul", [g.Node("Softmax", [X], Int("axis", -1)), g.Random([4])]));
        yield return Case("SoftmaxMiddleAxisOpset13", 13, s3, g => g.Node("Mul", [g.Node("Softmax", [X], Int("axis", 1)), g.Random([3, 4])]));
        yield return Case("SoftmaxOpset11FlattensFromAxis", 11, s3, g => g.Node("Mul", [g.Node("Softmax", [X], Int("axis", 1)), g.Random([2, 3, 4])]));
        yield return Case("LogSoftmax", 17, s3, g => g.Node("Mul", [g.Node("LogSoftmax", [X], Int("axis", -1)), g.Random([4])]));
        yield return Case("ReduceMeanKeepDims", 17, s3, g => g.Node("Mul", [g.Node("ReduceMean", [g.Node("Mul", [X, X])], Ints("axes", -1, 1), Int("keepdims", 1)), g.Random([1, 1])]));
        yield return Case("ReduceMeanNoKeepDimsOpset18", 18, s3, g => g.Node("ReduceMean", [g.Node("Mul", [X, X]), g.Int64([2])], Int("keepdims", 0)));
        yield return Case("ReduceSumAttributeOpset11", 11, s3, g => g.Node("ReduceSum", [g.Node("Mul", [X, X])], Ints("axes", 1), Int("keepdims", 0)));
        yield return Case("ReduceSumAxesInputOpset13", 13, s3, g => g.Node("ReduceSum", [g.Node("Exp", [X]), g.Int64([1, -1])], Int("keepdims", 0)));
        yield return Case("LayerNormalizationLastAxis", 17, s3, g => g.Node("LayerNormalization", [X, g.Random([4], 0.5, 1.5), g.Random([4])], Int("axis", -1), Float("epsilon", 1e-5f)));
        yield return Case("LayerNormalizationFloat32ForwardStatistics", 17, s3, g =>
            g.Node("LayerNormalization", [X, g.Random([4], 0.5, 1.5), g.Random([4])], Int("axis", -1), Float("epsilon", 1e-5f)), F32);
        yield return Case("LayerNormalizationTwoAxes", 17, s3, g => g.Node("LayerNormalization", [X, g.Random([3, 4], 0.5, 1.5), g.Random([4])], Int("axis", -2), Float("epsilon", 1e-3f)));
        yield return Case("LayerNormDecomposition", 14, s3, g =>
        {
            string mean = g.Node("ReduceMean", [X], Ints("axes", -1));
            string centred = g.Node("Sub", [X, mean]);
            string variance = g.Node("ReduceMean", [g.Node("Pow", [centred, g.Init([2.0])])], Ints("axes", -1));
            string norm = g.Node("Div", [centred, g.Node("Sqrt", [g.Node("Add", [variance, g.Init([1e-5])])])]);
            return g.Node("Add", [g.Node("Mul", [norm, g.Random([4])]), g.Random([4])]);
        });
        yield return Case("MatMulBothOnPath", 17, s3, g => g.Node("MatMul", [X, g.Node("Transpose", [X], Ints("perm", 0, 1, 3, 2))]));
        yield return Case("MatMulBroadcastBatchDims", 17, s3, g =>
            g.Node("MatMul", [g.Node("ReduceMean", [X], Ints("axes", 1), Int("keepdims", 1)), g.Random([5, 4, 2])]));
        yield return Case("MatMulConstantLeft", 17, s3, g => g.Node("MatMul", [g.Random([3, 3]), X]));
        yield return Case("GemmTransBAlphaBeta", 13, [5], g =>
            g.Node("Gemm", [X, g.Random([3, 5]), g.Node("Mul", [g.Node("ReduceMean", [X], Ints("axes", 1), Int("keepdims", 1)), g.Random([3])])],
                Int("transB", 1), Float("alpha", 0.7f), Float("beta", 1.3f)));
        yield return Case("GemmTransAOnActivation", 13, [5], g =>
            g.Node("Gemm", [g.Node("Transpose", [X]), g.Random([5, 3])], Int("transA", 1)));
        yield return Case("GemmActivationAsRightOperand", 13, [5], g =>
            g.Node("Transpose", [g.Node("Gemm", [g.Random([3, 5]), X, g.Random([3, 1])], Int("transB", 1), Float("alpha", 1.5f))]));
        yield return Case("ReshapeTransposeFlatten", 17, s3, g =>
            g.Node("Flatten", [g.Node("Transpose", [g.Node("Reshape", [g.Node("Mul", [X, X]), g.Int64([0, 6, 2, 2])])], Ints("perm", 0, 2, 3, 1))], Int("axis", 1)));
        yield return Case("TransposeDefaultPerm", 17, s3, g => g.Node("Transpose", [g.Node("Mul", [g.Node("Transpose", [X]), g.Random([3, 2, 1])])], Ints("perm", 3, 2, 1, 0)));
        yield return Case("SqueezeUnsqueezeOpset11", 11, s, g => g.Node("Squeeze", [g.Node("Unsqueeze", [g.Node("Mul", [X, X])], Ints("axes", 1, 3))], Ints("axes", 1)));
        yield return Case("SqueezeUnsqueezeOpset13", 13, s, g => g.Node("Squeeze", [g.Node("Unsqueeze", [g.Node("Mul", [X, X]), g.Int64([1, 3])]), g.Int64([1])]));
        yield return Case("ConcatWithConstant", 17, s3, g => g.Node("Concat", [X, g.Node("Mul", [X, X]), g.Node("Exp", [X])], Int("axis", -1)));
        yield return Case("SliceNegativeAndClamped", 13, s3, g =>
            g.Node("Slice", [g.Node("Mul", [X, X]), g.Int64([1, -3]), g.Int64([long.MaxValue, -1]), g.Int64([1, -1])]));
        yield return Case("SliceWholeBatchAxis", 13, s3, g => g.Node("Slice", [g.Node("Exp", [X]), g.Int64([0, 1]), g.Int64([long.MaxValue, 3]), g.Int64([0, 2])]));
        yield return Case("SplitOpset11OneOutputUnused", 11, s3, g =>
            g.Nodes("Split", [g.Node("Mul", [X, X])], 2, Int("axis", 2), Ints("split", 1, 2))[1]);
        yield return Case("SplitOpset13SizesInput", 13, s3, g =>
        {
            string[] parts = g.Nodes("Split", [g.Node("Mul", [X, X]), g.Int64([1, 1])], 2, Int("axis", 1));
            return g.Node("Mul", [parts[0], g.Node("ReduceSum", [parts[1], g.Int64([1])], Int("keepdims", 1))]);
        });
        yield return Case("GatherScalarToken", 17, s3, g => g.Node("Gather", [g.Node("Mul", [X, X]), g.Int64([-1], scalar: true)], Int("axis", 1)));
        yield return Case("GatherQkvStyleAxis0", 17, s3, g =>
        {
            string split = g.Node("Transpose", [g.Node("Mul", [X, X])], Ints("perm", 1, 0, 2, 3)); // [2, b, 3, 4]
            return g.Node("Mul", [g.Node("Gather", [split, g.Int64([0], scalar: true)], Int("axis", 0)), g.Node("Gather", [split, g.Int64([1], scalar: true)], Int("axis", 0))]);
        });
        yield return Case("GatherScalarsNotConsecutive", 17, s3, g =>
            g.Node("Mul", [g.Node("Gather", [g.Node("Exp", [X]), g.Int64([0], scalar: true)], Int("axis", 2)), g.Node("Gather", [X, g.Int64([2], scalar: true)], Int("axis", 2))]));
        yield return Case("GatherSameScalarTwice", 17, s3, g =>
            g.Node("Mul", [g.Node("Gather", [X, g.Int64([1], scalar: true)], Int("axis", 1)), g.Node("Gather", [X, g.Int64([-1], scalar: true)], Int("axis", 1))]));
        yield return Case("GatherVectorWithRepeats", 17, s3, g => g.Node("Gather", [g.Node("Exp", [X]), g.Int64([2, 0, 2])], Int("axis", 2)));
        yield return Case("Expand", 13, [1, 4], g => g.Node("Expand", [g.Node("Mul", [X, X]), g.Int64([1, 3, 4])]));
        yield return Case("WhereFromComparison", 16, s, g =>
            g.Node("Where", [g.Node("Greater", [X, g.Init([0.0])]), g.Node("Mul", [X, X]), g.Node("Mul", [X, g.Init([-3.0])])]));
        yield return Case("CastFloatToDoubleAndBack", 17, s, g =>
            g.Node("Cast", [g.Node("Mul", [g.Node("Cast", [X], Int("to", F64)), g.Node("Cast", [g.Random([4])], Int("to", F64))])], Int("to", F32)), F32);
        yield return Case("ShapeSubgraphIgnored", 14, s3, g =>
        {
            // torch's reshape idiom: the target shape from Shape/Gather/Unsqueeze/Concat, plus ConstantOfShape and Range.
            string shape = g.Node("Shape", [X]);
            string batch = g.Node("Unsqueeze", [g.Node("Gather", [shape, g.Int64([0], scalar: true)], Int("axis", 0)), g.Int64([0])]);
            string target = g.Node("Concat", [batch, g.Int64([-1])], Int("axis", 0));
            string flat = g.Node("Reshape", [g.Node("Mul", [X, X]), target]);
            string ones = g.Node("ConstantOfShape", [g.Node("Shape", [flat])], new global::Onnx.AttributeProto
            {
                Name = "value", Type = global::Onnx.AttributeProto.Types.AttributeType.Tensor, T = TensorValues.RealTensor(F64, [0.25], 1),
            });
            string range = g.Node("Cast", [g.Node("Range", [g.Int64([0], true), g.Node("Gather", [g.Node("Shape", [flat]), g.Int64([1], true)], Int("axis", 0)), g.Int64([1], true)])], Int("to", F64));
            return g.Node("Add", [g.Node("Mul", [flat, ones]), range]);
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void Backward_Op_MatchesFiniteDifferences(int opset, long[] itemShape, Func<TinyGraph, string> body, int elemType)
    {
        var graph = new TinyGraph(opset, elemType, itemShape);
        byte[] forward = graph.Finish(body(graph));
        byte[] backward = TinyGraph.Differentiate(forward, itemShape);

        const int batch = 2;
        long[] shape = [batch, .. itemShape];
        int n = (int)shape.Aggregate(1L, (p, d) => p * d);
        var random = new Random(opset * 7919 + n);
        // Away from 0 so Relu and the Where condition stay on one side of their kink within ±h.
        double[] x = [.. Enumerable.Range(0, n).Select(_ => (random.NextDouble() < 0.5 ? -1 : 1) * (0.2 + random.NextDouble()))];

        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var forwardSession = new InferenceSession(forward, options);
        using var backwardSession = new InferenceSession(backward, options);
        int classes = TinyGraph.Run(forwardSession, elemType, x, shape, null, "logits")[0].Length / batch;
        long[] targets = [classes - 1, classes / 3];
        double[] gradient = TinyGraph.Run(backwardSession, elemType, x, shape, targets, "grad.x")[0];

        double h = elemType == F64 ? 1e-5 : 1e-2;
        double Objective(double[] input)
        {
            double[] logits = TinyGraph.Run(forwardSession, elemType, input, shape, null, "logits")[0];
            return logits[targets[0]] + logits[classes + targets[1]];
        }

        var numeric = new double[n];
        for (int i = 0; i < n; i++)
        {
            double keep = x[i];
            x[i] = keep + h;
            double plus = Objective(x);
            x[i] = keep - h;
            double minus = Objective(x);
            x[i] = keep;
            numeric[i] = (plus - minus) / (2 * h);
        }

        double scale = numeric.Max(Math.Abs);
        double worst = gradient.Zip(numeric, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(scale, Is.GreaterThan(1e-3), "the finite differences are ~0: the case checks nothing");
        Assert.That(worst / scale, Is.LessThanOrEqualTo(elemType == F64 ? 1e-6 : 2e-3),
            $"max |analytic − numeric| {worst:E3} against max |numeric| {scale:E3}");
    }
}
