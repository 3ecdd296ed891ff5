using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Onnx;

internal sealed record OnnxImageInput(
    string Name, ValueInfoProto Info, int Channels, int Height, int Width, int? StaticHeight, int? StaticWidth,
    int ProbeBatch, TensorShapeProto.Types.Dimension BatchDim);
