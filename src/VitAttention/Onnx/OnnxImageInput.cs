using Onnx;

namespace VitAttention.Onnx;

internal sealed record OnnxImageInput(
    string Name, ValueInfoProto Info, int Channels, int Height, int Width, int? StaticHeight, int? StaticWidth,
    int ProbeBatch, TensorShapeProto.Types.Dimension BatchDim);
