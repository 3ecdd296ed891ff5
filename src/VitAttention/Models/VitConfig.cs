namespace VitAttention.Models;

/// <summary>
/// The dimensions and conventions of one Vision Transformer. Nothing in the library hard-codes 197 tokens, a 14×14
/// grid or 12 layers: everything is taken from here.
/// </summary>
public sealed partial record VitConfig
{
    /// <summary>Where the checkpoint comes from.</summary>
    public ModelFamily Family { get; init; } = ModelFamily.HuggingFace;

    /// <summary>Input height in pixels.</summary>
    public required int ImageHeight { get; init; }

    /// <summary>Input width in pixels.</summary>
    public required int ImageWidth { get; init; }

    /// <summary>Side of a square patch in pixels.</summary>
    public required int PatchSize { get; init; }

    /// <summary>Input channels (3).</summary>
    public int Channels { get; init; } = 3;

    /// <summary>Embedding width.</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Number of transformer blocks.</summary>
    public required int NumLayers { get; init; }

    /// <summary>Attention heads per block.</summary>
    public required int NumHeads { get; init; }

    /// <summary>Width of the MLP's hidden layer.</summary>
    public required int IntermediateSize { get; init; }

    /// <summary>LayerNorm epsilon (1e-12 for HF ViT, 1e-6 for timm).</summary>
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>Tokens before the patches: 1 (CLS), 2 for DeiT distilled, 1 + r with r registers.</summary>
    public int PrefixTokens { get; init; } = 1;

    /// <summary>Whether the query, key and value projections have biases.</summary>
    public bool QkvBias { get; init; } = true;

    /// <summary>Number of output classes (0 when the model has no classifier).</summary>
    public required int NumClasses { get; init; }

    /// <summary>Class names indexed by class, or empty when the model has none.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary>How photos are prepared for this model.</summary>
    public PreprocessConfig Preprocess { get; init; } = PreprocessConfig.HuggingFaceDefault;

    /// <summary>Rows of the patch grid.</summary>
    public int GridHeight => ImageHeight / PatchSize;

    /// <summary>Columns of the patch grid.</summary>
    public int GridWidth => ImageWidth / PatchSize;

    /// <summary>Patches: <see cref="GridHeight"/> × <see cref="GridWidth"/>.</summary>
    public int Patches => GridHeight * GridWidth;

    /// <summary>Sequence length: prefix tokens plus patches (197 for ViT-B/16 at 224 px).</summary>
    public int Tokens => PrefixTokens + Patches;

    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / NumHeads;

    /// <summary>The label of a class, or <c>class {index}</c> when the model has no names.</summary>
    /// <param name="index">The class index.</param>
    /// <returns>The label.</returns>
    public string LabelOf(int index) => index >= 0 && index < Labels.Count ? Labels[index] : $"class {index}";

    /// <summary>
    /// Checks that the dimensions are consistent (heads divide the width, patches tile the image, sizes positive).
    /// </summary>
    /// <param name="source">What the config came from, for the message.</param>
    /// <exception cref="ModelFormatException">A dimension is inconsistent; the message names it.</exception>
    public void Validate(string source)
    {
        static void Require(bool ok, string source, string what)
        {
            if (!ok)
            {
                throw new ModelFormatException($"{source}: {what}");
            }
        }

        Require(ImageHeight > 0 && ImageWidth > 0 && ImageHeight <= 8192 && ImageWidth <= 8192, source,
            $"image size {ImageHeight}×{ImageWidth} must be between 1 and 8192 pixels.");
        Require(PatchSize > 0 && PatchSize <= Math.Min(ImageHeight, ImageWidth), source,
            $"patch size {PatchSize} must be positive and no larger than the image ({ImageHeight}×{ImageWidth}).");
        Require(ImageHeight % PatchSize == 0 && ImageWidth % PatchSize == 0, source,
            $"patch size {PatchSize} must divide the image size {ImageHeight}×{ImageWidth}.");
        Require(Channels is >= 1 and <= 4, source, $"channels {Channels} must be 1 to 4.");
        Require(HiddenSize > 0 && HiddenSize <= 65536, source, $"hidden size {HiddenSize} must be between 1 and 65536.");
        Require(NumHeads > 0 && HiddenSize % NumHeads == 0, source,
            $"{NumHeads} attention heads do not divide the hidden size {HiddenSize}; check num_attention_heads / num_heads in config.json.");
        Require(NumLayers > 0 && NumLayers <= 1024, source, $"layer count {NumLayers} must be between 1 and 1024.");
        Require(IntermediateSize > 0 && IntermediateSize <= 1 << 20, source, $"MLP size {IntermediateSize} must be positive.");
        Require(PrefixTokens >= 0 && PrefixTokens <= 64, source, $"prefix token count {PrefixTokens} must be between 0 and 64.");
        Require(NumClasses >= 0 && NumClasses <= 1 << 20, source, $"class count {NumClasses} must not be negative.");
        Require(Labels.Count == 0 || Labels.Count == NumClasses, source,
            $"{Labels.Count} labels given for {NumClasses} classes.");
        Require(Preprocess.Mean.Length == Channels && Preprocess.Std.Length == Channels, source,
            $"mean and std need {Channels} values each, got {Preprocess.Mean.Length} and {Preprocess.Std.Length}.");
        Require(Preprocess.Std.All(s => s > 0 && float.IsFinite(s)), source, "every std value must be positive.");
        Require(Preprocess.CropPct is null || (Preprocess.CropPct > 0 && Preprocess.CropPct <= 1), source,
            $"crop_pct {Preprocess.CropPct} must be in (0, 1].");
        Require(Preprocess.ResizeShortestEdge is null || (Preprocess.ResizeShortestEdge >= Math.Max(ImageHeight, ImageWidth) && Preprocess.ResizeShortestEdge <= 16384), source,
            $"the processor resizes the short side to {Preprocess.ResizeShortestEdge} pixels, less than the {ImageHeight}×{ImageWidth} crop (or absurdly large); the crop must fit inside the resized photo.");
        Require((Preprocess.ResizeHeight is null) == (Preprocess.ResizeWidth is null), source,
            "ResizeHeight and ResizeWidth are set together or not at all.");
        Require(Preprocess.ResizeHeight is null || (Preprocess.ResizeHeight >= ImageHeight && Preprocess.ResizeWidth >= ImageWidth && Preprocess.ResizeHeight <= 16384 && Preprocess.ResizeWidth <= 16384), source,
            $"the processor resizes to {Preprocess.ResizeHeight}×{Preprocess.ResizeWidth}, smaller than the {ImageHeight}×{ImageWidth} crop (or absurdly large); the crop must fit inside the resized photo.");
    }
}
