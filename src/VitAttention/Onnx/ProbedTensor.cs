using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Onnx;

internal sealed record ProbedTensor(long[] Shape, TensorElementType Type);
