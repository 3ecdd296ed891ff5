using System.Globalization;

namespace VitAttention.Models;

public sealed partial record VitConfig
{
    /// <summary>
    /// This model run on <paramref name="height"/> × <paramref name="width"/> inputs: the grid follows, the position
    /// embedding (and BEiT's relative tables) keep their trained grid and are interpolated to the new one when the
    /// graph is built, and the processor's resize before its centre crop is scaled by the same factor (timm's
    /// <c>crop_pct</c> applies as it is). Used for sharper maps above the training size (DINO's figures run this way).
    /// </summary>
    /// <param name="height">Input height in pixels, a multiple of the patch size.</param>
    /// <param name="width">Input width in pixels, a multiple of the patch size.</param>
    /// <param name="source">What asked for it, for messages.</param>
    /// <returns>The config for that input size; this one when it already is.</returns>
    /// <exception cref="ModelFormatException">The size is not a positive multiple of the patch size, or too large.</exception>
    internal VitConfig AtInputSize(int height, int width, string source)
    {
        if (height == ImageHeight && width == ImageWidth)
        {
            return this;
        }

        if (height <= 0 || width <= 0 || height > 8192 || width > 8192 || height % PatchSize != 0 || width % PatchSize != 0)
        {
            int below = Math.Max(PatchSize, height / PatchSize * PatchSize);
            throw new ModelFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{source}: image size {height}×{width} must be a positive multiple of the model's {PatchSize}-pixel patch (at most 8192), e.g. {below} or {below + PatchSize}."));
        }

        int trainedH = TrainedGridHeight, trainedW = TrainedGridWidth;
        int gridH = height / PatchSize, gridW = width / PatchSize;
        PreprocessConfig p = Preprocess;
        return this with
        {
            ImageHeight = height,
            ImageWidth = width,
            PositionGridHeight = gridH == trainedH && gridW == trainedW ? null : trainedH,
            PositionGridWidth = gridH == trainedH && gridW == trainedW ? null : trainedW,
            Preprocess = p with
            {
                ResizeShortestEdge = p.ResizeShortestEdge is { } e ? Scale(e, Math.Max(height, width), Math.Max(ImageHeight, ImageWidth)) : null,
                ResizeHeight = p.ResizeHeight is { } rh ? Scale(rh, height, ImageHeight) : null,
                ResizeWidth = p.ResizeWidth is { } rw ? Scale(rw, width, ImageWidth) : null,
            },
        };

        // floor(size · new / old) in integers, never below the new crop.
        static int Scale(int size, int now, int before) => (int)Math.Max(now, (long)size * now / before);
    }
}
