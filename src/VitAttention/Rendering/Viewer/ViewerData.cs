using System.Diagnostics.CodeAnalysis;
using SkiaSharp;

namespace VitAttention.Rendering.Viewer;

/// <summary>
/// Everything the interactive viewer page shows for one image, independent of how it was computed: the photo, the
/// token layout, the image's attention in every layer and head, the predictions and any maps a method computed.
/// <see cref="ViewerPage"/> turns it into one self-contained HTML file.
/// </summary>
internal sealed record ViewerData
{
    /// <summary>Most layers, heads or tokens a page accepts (keeps the decoded page within a browser's memory).</summary>
    internal const int MaxLayers = 64, MaxHeads = 64, MaxTokens = 4096;

    /// <summary>The page's title: usually the image's file name.</summary>
    public required string Title { get; init; }

    /// <summary>What model made it (dimensions, family), shown under the title; optional.</summary>
    public string? ModelDescription { get; init; }

    /// <summary>The photo, encoded (PNG or JPEG bytes).</summary>
    public required byte[] Photo { get; init; }

    /// <summary>The photo's media type: <c>image/png</c> or <c>image/jpeg</c>.</summary>
    public string PhotoMediaType { get; init; } = "image/png";

    /// <summary>The photo's width in pixels.</summary>
    public required int PhotoWidth { get; init; }

    /// <summary>The photo's height in pixels.</summary>
    public required int PhotoHeight { get; init; }

    /// <summary>The part of the photo the model saw (photo pixels; the centre crop for crop-based models).</summary>
    public required SKRect SeenRegion { get; init; }

    /// <summary>Patch rows.</summary>
    public required int GridHeight { get; init; }

    /// <summary>Patch columns.</summary>
    public required int GridWidth { get; init; }

    /// <summary>The non-patch tokens before the patches, in order, by kind: "CLS", "DIST", "REG1", ….</summary>
    public required IReadOnlyList<string> PrefixTokens { get; init; }

    /// <summary>Transformer layers.</summary>
    public required int Layers { get; init; }

    /// <summary>Attention heads per layer.</summary>
    public required int Heads { get; init; }

    /// <summary>Tokens: prefix tokens then the patches, row-major.</summary>
    public int Tokens => PrefixTokens.Count + (GridHeight * GridWidth);

    /// <summary>This image's attention probabilities, <c>[layer, head, query, key]</c>; each row non-negative.</summary>
    public required float[] Attention { get; init; }

    /// <summary>The top classes, most probable first.</summary>
    public IReadOnlyList<ViewerPrediction> Predictions { get; init; } = [];

    /// <summary>Maps computed by the library's methods, by method and (for class-specific methods) class.</summary>
    public IReadOnlyList<ViewerMap> Maps { get; init; } = [];

    /// <summary>The colormap the page opens with.</summary>
    public Colormap Colormap { get; init; } = Colormap.Jet;

    /// <summary>The heat map's opacity the page opens with, 0..1.</summary>
    public float Alpha { get; init; } = 0.6f;

    /// <summary>
    /// Checks every field; the page writer calls it. The messages name the field and the fix.
    /// </summary>
    /// <exception cref="ArgumentException">A field is missing, out of range or inconsistent with the others.</exception>
    public void Validate()
    {
        Require(!string.IsNullOrWhiteSpace(Title), nameof(Title), "is empty; give the image's name.");
        Require(Photo is { Length: > 0 }, nameof(Photo), "is empty; pass the encoded photo (PNG or JPEG bytes).");
        Require(PhotoMediaType is "image/png" or "image/jpeg", nameof(PhotoMediaType), $"is '{PhotoMediaType}'; use image/png or image/jpeg.");
        Require(PhotoWidth > 0 && PhotoHeight > 0, nameof(PhotoWidth), $"the photo's size {PhotoWidth}×{PhotoHeight} must be positive.");
        var r = SeenRegion;
        Require(
            float.IsFinite(r.Left) && float.IsFinite(r.Top) && r.Width > 0 && r.Height > 0 &&
            r.Left >= -0.5f && r.Top >= -0.5f && r.Right <= PhotoWidth + 0.5f && r.Bottom <= PhotoHeight + 0.5f,
            nameof(SeenRegion), $"{r} must be a non-empty rectangle inside the {PhotoWidth}×{PhotoHeight} photo.");
        Require(GridHeight > 0 && GridWidth > 0, nameof(GridHeight), $"the patch grid {GridHeight}×{GridWidth} must be positive.");
        Require(PrefixTokens is not null, nameof(PrefixTokens), "is null; pass [] for a model without prefix tokens.");
        Require(Layers is > 0 and <= MaxLayers, nameof(Layers), $"is {Layers}; the viewer takes 1..{MaxLayers}.");
        Require(Heads is > 0 and <= MaxHeads, nameof(Heads), $"is {Heads}; the viewer takes 1..{MaxHeads}.");
        Require(Tokens <= MaxTokens, nameof(GridHeight), $"{Tokens} tokens are more than the viewer's {MaxTokens}.");
        long expected = (long)Layers * Heads * Tokens * Tokens;
        Require(Attention is not null && Attention.LongLength == expected, nameof(Attention),
            $"has {Attention?.LongLength ?? 0} values but [layer {Layers}, head {Heads}, query {Tokens}, key {Tokens}] needs {expected}; " +
            $"pass this image's attention only, with {PrefixTokens.Count} prefix token(s) and a {GridHeight}×{GridWidth} grid.");
        CheckAttentionValues();
        Require(float.IsFinite(Alpha) && Alpha is >= 0f and <= 1f, nameof(Alpha), $"is {Alpha}; use 0..1.");
        Require(Enum.IsDefined(Colormap), nameof(Colormap), $"{Colormap} is not a colormap.");

        Require(Predictions is not null, nameof(Predictions), "is null; pass [] when there are none.");
        foreach (var p in Predictions)
        {
            Require(p is not null && p.Label is not null && float.IsFinite(p.Probability) && p.Probability is >= 0f and <= 1f,
                nameof(Predictions), $"entry {p} needs a label and a probability in 0..1.");
        }

        Require(Maps is not null, nameof(Maps), "is null; pass [] when there are none.");
        var seen = new HashSet<(string, int?)>();
        int patches = GridHeight * GridWidth;
        foreach (var m in Maps)
        {
            Require(m is not null && !string.IsNullOrWhiteSpace(m.Method), nameof(Maps), "an entry has no method name.");
            Require(m.Method is not ("attention" or "rollout from token"), nameof(Maps),
                $"method name '{m.Method}' is taken by the page's own views; name the library's map differently (e.g. 'rollout').");
            float[] values = m.Values ?? [];
            Require(values.Length == patches, nameof(Maps),
                $"map '{m.Method}' has {values.Length} values; the {GridHeight}×{GridWidth} grid needs {patches}.");
            Require(values.All(float.IsFinite), nameof(Maps), $"map '{m.Method}' holds NaN or infinity.");
            Require(seen.Add((m.Method, m.ClassIndex)), nameof(Maps), $"map '{m.Method}' for class {m.ClassIndex?.ToString() ?? "(none)"} is given twice.");
        }
    }

    private void CheckAttentionValues()
    {
        int n = Tokens;
        float[] a = Attention;
        for (int i = 0; i < a.Length; i++)
        {
            float v = a[i];
            if (!(v >= 0f) || float.IsPositiveInfinity(v))
            {
                int row = i / n;
                int query = row % n, head = row / n % Heads, layer = row / n / Heads;
                throw new ArgumentException(
                    $"ViewerData.Attention[layer {layer + 1}, head {head + 1}, query {query}, key {i % n}] is {v}; attention probabilities must be finite and non-negative.",
                    nameof(Attention));
            }
        }
    }

    private static void Require([DoesNotReturnIf(false)] bool condition, string field, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"ViewerData.{field} {message}", field);
        }
    }
}
