using VitAttention.Loading;

namespace VitAttention.Onnx;

/// <summary>
/// An ONNX model whose attention probabilities are graph outputs, and what was learned about its graph on the way.
/// The outputs follow the <see cref="PreparedModel"/> contract: <c>logits</c> [batch, classes] and
/// <c>attentions.{l}</c> [batch, heads, tokens, tokens] float32, layer 0 nearest the input.
/// </summary>
internal sealed record ExposedOnnx
{
    /// <summary>The serialised ONNX model with the added outputs (all original outputs kept).</summary>
    public required byte[] Onnx { get; init; }

    /// <summary>Name of the image input ([batch, channels, height, width]).</summary>
    public required string InputName { get; init; }

    /// <summary>Input channels: the graph's static value, or 3 when the graph leaves it symbolic.</summary>
    public required int Channels { get; init; }

    /// <summary>Input height when the graph fixes it; null when it is symbolic.</summary>
    public int? InputHeight { get; init; }

    /// <summary>Input width when the graph fixes it; null when it is symbolic.</summary>
    public int? InputWidth { get; init; }

    /// <summary>The height the graph was probed with (the graph's own, or <see cref="ExposeOptions.ImageHeight"/>).</summary>
    public required int ProbeHeight { get; init; }

    /// <summary>The width the graph was probed with.</summary>
    public required int ProbeWidth { get; init; }

    /// <summary>Number of transformer layers (attention softmaxes found).</summary>
    public required int Layers { get; init; }

    /// <summary>Attention heads per layer.</summary>
    public required int Heads { get; init; }

    /// <summary>Sequence length at the probe size (prefix tokens plus patches).</summary>
    public required int Tokens { get; init; }

    /// <summary>Width of one head: the last dimension of the value tensor the probabilities multiply.</summary>
    public required int HeadDim { get; init; }

    /// <summary>Number of classes: the second dimension of the logits; 0 for a backbone without a classifier.</summary>
    public required int NumClasses { get; init; }

    /// <summary>
    /// Patch size read from the patch-embedding convolution that consumes the image (square kernel equal to its
    /// stride), or null when the graph has no such convolution.
    /// </summary>
    public int? PatchSize { get; init; }

    /// <summary>
    /// Name of the graph output that <c>logits</c> is (or aliases); null when the graph has no [batch, classes]
    /// output (a backbone such as DINO: then the model has attention outputs only and <see cref="NumClasses"/> is 0).
    /// </summary>
    public string? LogitsSource { get; init; }

    /// <summary>The tensors exposed as <c>attentions.0</c> …, in layer order (normally the Softmax outputs).</summary>
    public required IReadOnlyList<string> AttentionSources { get; init; }

    /// <summary>True when the input model already had these outputs, so nothing was added.</summary>
    public bool AlreadyExposed { get; init; }

    /// <summary>Full paths of the external data files read into the graph (none for a self-contained file).</summary>
    public IReadOnlyList<string> ExternalFiles { get; init; } = [];
}
