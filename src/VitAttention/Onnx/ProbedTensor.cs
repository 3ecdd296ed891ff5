using Microsoft.ML.OnnxRuntime.Tensors;

namespace VitAttention.Onnx;

internal sealed record ProbedTensor(long[] Shape, TensorElementType Type);
