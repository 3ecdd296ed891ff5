using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// An ONNX ViT ready to run: its graph outputs <c>logits</c> [batch, classes] and <c>attentions.0</c> …
/// <c>attentions.{L−1}</c> [batch, heads, tokens, tokens], its input is [batch, channels, height, width] float32, and
/// <see cref="Config"/> describes its dimensions and preprocessing. A model without a classifier
/// (<see cref="VitConfig.NumClasses"/> 0, e.g. a DINO backbone) has no <c>logits</c> output, only the attentions.
/// </summary>
/// <remarks>
/// The graph lives either in a file (<see cref="OnnxPath"/>: a built checkpoint in the prepared-model cache, which
/// ONNX Runtime opens itself, so the process never holds the serialised graph) or in memory
/// (<see cref="OnnxBytes"/>: an export whose attention was exposed, or a graph built in a test).
/// </remarks>
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
    /// <param name="inputFiles">Every file read to make it (weights, configs, the export and its data), so that no output is written over one.</param>
    public PreparedModel(VitConfig config, byte[] onnx, string inputName, string source, IReadOnlyList<string>? inputFiles = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(onnx);
        ArgumentException.ThrowIfNullOrEmpty(inputName);
        Config = config;
        OnnxBytes = onnx;
        InputName = inputName;
        Source = source ?? "(in memory)";
        InputFiles = inputFiles ?? [];
    }

    /// <summary>Creates a prepared model whose graph is the file <paramref name="onnxPath"/>.</summary>
    /// <param name="config">Dimensions, labels and preprocessing.</param>
    /// <param name="onnxPath">The ONNX file with the outputs described above.</param>
    /// <param name="inputName">Name of the graph's image input.</param>
    /// <param name="source">Where the model came from, for messages.</param>
    /// <param name="inputFiles">Every file read to make it.</param>
    public PreparedModel(VitConfig config, string onnxPath, string inputName, string source, IReadOnlyList<string> inputFiles)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        ArgumentException.ThrowIfNullOrEmpty(inputName);
        Config = config;
        OnnxPath = onnxPath;
        InputName = inputName;
        Source = source ?? onnxPath;
        InputFiles = inputFiles ?? [];
    }

    /// <summary>Dimensions, labels and preprocessing.</summary>
    public VitConfig Config { get; }

    /// <summary>The ONNX file ONNX Runtime opens, or null when the graph is held in memory.</summary>
    public string? OnnxPath { get; }

    /// <summary>The serialised ONNX graph when it is held in memory, else null.</summary>
    public byte[]? OnnxBytes { get; }

    /// <summary>Name of the image input.</summary>
    public string InputName { get; }

    /// <summary>Where the model came from, for messages.</summary>
    public string Source { get; }

    /// <summary>The files read to make this model (full paths); outputs must never be written over them.</summary>
    public IReadOnlyList<string> InputFiles { get; }

    /// <summary>The serialised graph: the bytes held, or the file read now.</summary>
    public byte[] ReadOnnx() => OnnxBytes ?? File.ReadAllBytes(OnnxPath!);

    /// <summary>The name of layer <paramref name="layer"/>'s attention output (zero-based).</summary>
    public static string AttentionOutput(int layer) => AttentionOutputPrefix + layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
