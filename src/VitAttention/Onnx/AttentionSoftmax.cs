using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Onnx;

internal sealed record AttentionSoftmax(SoftmaxCandidate Candidate, string ExposeName, int ElemType, int Heads, int Tokens, int HeadDim);
