namespace VitAttention.Onnx;

/// <summary>
/// Options for <see cref="AttentionExposer.Expose(byte[], string, ExposeOptions?)"/>. Every member has a default that
/// suits a graph with a fixed input size and its weights inside the file; change them with <c>with</c>.
/// </summary>
internal sealed record ExposeOptions
{
    /// <summary>The defaults: input size from the graph, no external data folder.</summary>
    public static ExposeOptions Default { get; } = new();

    /// <summary>
    /// Input height in pixels to probe the graph with when the graph's image input has a symbolic height (Optimum
    /// exports declare height and width dynamic). Ignored when the graph fixes the height. Default null.
    /// </summary>
    public int? ImageHeight { get; init; }

    /// <summary>
    /// Input width in pixels for a graph with a symbolic width; see <see cref="ImageHeight"/>. Default null, which
    /// probes a square input of <see cref="ImageHeight"/>.
    /// </summary>
    public int? ImageWidth { get; init; }

    /// <summary>
    /// Folder that holds the model's external data files (initializers stored with <c>data_location</c> EXTERNAL,
    /// as exports above 2 GB or with <c>save_as_external_data</c> do). Their bytes are read from there and put
    /// inside the returned model. Null (the default) refuses such models with a message that says to load them from
    /// their file.
    /// </summary>
    public string? ExternalDataFolder { get; init; }
}
