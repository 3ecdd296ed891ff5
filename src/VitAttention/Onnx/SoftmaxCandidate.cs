using Onnx;

namespace VitAttention.Onnx;

internal sealed record SoftmaxCandidate(
    NodeProto Softmax, int NodeIndex, long? Axis, string Raw, string? AfterReshape, string ValueInput,
    string? DequantScale, string? DequantZeroPoint);
