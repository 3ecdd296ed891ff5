namespace VitAttention.Onnx;

internal sealed record AttentionSoftmax(SoftmaxCandidate Candidate, string ExposeName, int ElemType, int Heads, int Tokens, int HeadDim);
