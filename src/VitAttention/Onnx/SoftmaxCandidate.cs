using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Onnx;

internal sealed record SoftmaxCandidate(
    NodeProto Softmax, int NodeIndex, long? Axis, string Raw, string? AfterReshape, string ValueInput,
    string? DequantScale, string? DequantZeroPoint);
