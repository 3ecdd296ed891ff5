using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// An ONNX ViT ready to run: its graph outputs <c>logits</c> [batch, classes] and <c>attentions.0</c> …
/// <c>attentions.{L−1}</c> [batch, heads, tokens, tokens], its input is [batch, channels, height, width] float32, and
/// <see cref="Config"/> describes its dimensions and preprocessing. A model without a classifier
/// (<see cref="VitConfig.NumClasses"/> 0, e.g. a DINO backbone) has no <c>logits</c> output, only the attentions.
/// </summary>
internal sealed class PreparedModel
{
    /// <summary>Name of the logits output.</summary>
    public const string LogitsOutput = "logits";

    /// <summary>Prefix of the attention outputs; layer <c>l</c> (zero-based) is <c>attentions.{l}</c>.</summary>
    public const string AttentionOutputPrefix = "attentions.";

    /// <summary>Creates a prepared model from the ONNX bytes and the config that describes them.</summary>
    /// <param name="config">Dimensions, labels and preprocessing.</param>
    /// <param name="onnx">The serialised ONNX model with the outputs described above.</param>
    /// <param name="inputName">Name of the graph's image input (<c>pixel_values</c> for models the library builds).</param>
    /// <param name="source">Where the model came from (a path or a hub id), for messages.</param>
    public PreparedModel(VitConfig config, byte[] onnx, string inputName, string source)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(onnx);
        ArgumentException.ThrowIfNullOrEmpty(inputName);
        Config = config;
        Onnx = onnx;
        InputName = inputName;
        Source = source ?? "(in memory)";
    }

    /// <summary>Dimensions, labels and preprocessing.</summary>
    public VitConfig Config { get; }

    /// <summary>The serialised ONNX graph.</summary>
    public byte[] Onnx { get; }

    /// <summary>Name of the image input.</summary>
    public string InputName { get; }

    /// <summary>Where the model came from, for messages.</summary>
    public string Source { get; }

    /// <summary>The name of layer <paramref name="layer"/>'s attention output (zero-based).</summary>
    public static string AttentionOutput(int layer) => AttentionOutputPrefix + layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
