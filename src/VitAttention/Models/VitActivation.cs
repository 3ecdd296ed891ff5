namespace VitAttention.Models;

/// <summary>The MLP's activation function.</summary>
internal enum VitActivation
{
    /// <summary>Exact GELU, <c>0.5·x·(1 + erf(x/√2))</c> (transformers <c>gelu</c>, PyTorch <c>nn.GELU()</c>).</summary>
    Gelu,

    /// <summary>QuickGELU, <c>x·sigmoid(1.702·x)</c> (OpenAI CLIP; transformers <c>quick_gelu</c>, timm <c>*_clip_quickgelu_*</c>).</summary>
    QuickGelu,

    /// <summary>GELU's tanh approximation, <c>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))</c> (transformers <c>gelu_pytorch_tanh</c> / <c>gelu_new</c>, timm <c>gelu_tanh</c>).</summary>
    GeluTanh,
}
