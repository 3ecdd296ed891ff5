using System.Globalization;
using SkiaSharp;
using VitAttention.Models;

namespace VitAttention.Inference;

/// <summary>
/// Turns photos into a ViT's input tensor exactly as the model's reference pipeline does, from the model's own
/// <see cref="PreprocessConfig"/>:
/// <list type="bullet">
/// <item>timm (<see cref="PreprocessConfig.CropPct"/> set, 1.0 included): resize the short side to floor(size / crop_pct)
/// keeping the aspect (long side truncated, as torchvision's <c>Resize(int)</c>), then the centre crop, offset
/// <c>round((h − size) / 2)</c> with round-half-to-even (torchvision's <c>CenterCrop</c>). A non-square input size uses
/// timm's <c>ResizeKeepRatio</c> (sizes rounded, bilinear) instead.</item>
/// <item>Hugging Face with <see cref="PreprocessConfig.ResizeShortestEdge"/> (BiT, CLIP, DINOv2 processors): the short
/// side to that edge (long side truncated), then the centre crop to the model size, offset <c>(h − size) // 2</c>.</item>
/// <item>Hugging Face with <see cref="PreprocessConfig.ResizeHeight"/> × <see cref="PreprocessConfig.ResizeWidth"/>
/// (DeiT's processor): resize to that fixed size (aspect not kept), then the same floored centre crop.</item>
/// <item>Otherwise (ViT's, BEiT's processors): PIL resize straight to the model size.</item>
/// </list>
/// Resizing is PIL's (bilinear or bicubic, antialiased when shrinking, rounded to 8 bits); then <c>(v · rescale − mean) / std</c> per channel into <c>[C, H, W]</c>. Decoding honours the EXIF orientation,
/// drops alpha as PIL's <c>convert("RGB")</c> does (colours kept, not premultiplied), expands grey and palette images,
/// and reduces 16-bit samples to their high byte (as PIL does for 16-bit RGB; PIL 9 clips 16-bit <em>grey</em> to 255
/// instead, which is a PIL defect this library does not copy). A GIF's transparent pixels, whose colour GIF leaves
/// undefined, come out black (PIL shows the palette entry). Instances are immutable and thread-safe.
/// </summary>
internal sealed class ImagePreprocessor
{
    /// <summary>Creates a preprocessor for a model.</summary>
    /// <param name="config">The model's dimensions and preprocessing (size, mean, std, filter, crop).</param>
    /// <param name="limits">Decoding limits; <see cref="ImageLimits.Default"/> when null.</param>
    /// <exception cref="ArgumentException">The config is not for 3-channel images, or a limit is not positive.</exception>
    public ImagePreprocessor(VitConfig config, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Channels != 3)
        {
            throw new ArgumentException(
                $"Image preprocessing produces RGB input; the model expects {config.Channels} channels.", nameof(config));
        }

        PreprocessConfig p = config.Preprocess;
        if (p.Mean.Length != 3 || p.Std.Length != 3 || p.Std.Any(s => !(s > 0) || !float.IsFinite(s)))
        {
            throw new ArgumentException(
                "The preprocessing config needs 3 mean values and 3 positive std values.", nameof(config));
        }

        if (p.CropPct is { } pct && !(pct > 0 && pct <= 1))
        {
            throw new ArgumentException($"crop_pct {pct} must be in (0, 1].", nameof(config));
        }

        Limits = limits ?? ImageLimits.Default;
        Limits.Validate();
        Config = config;
    }

    /// <summary>The model config the preprocessing follows.</summary>
    public VitConfig Config { get; }

    /// <summary>The decoding limits.</summary>
    public ImageLimits Limits { get; }

    /// <summary>Floats in one image's input tensor: channels · height · width.</summary>
    public int InputLength => Config.Channels * Config.ImageHeight * Config.ImageWidth;

    /// <summary>Decodes and preprocesses an image file.</summary>
    /// <param name="path">A JPEG, PNG, WebP, GIF, BMP, ICO or WBMP file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidImageException">The file is not a decodable image, or exceeds <see cref="Limits"/>.</exception>
    public PreprocessedImage Preprocess(string path) => Finish(ImageDecoder.DecodeFile(path, Limits), path);

    /// <summary>Decodes and preprocesses an encoded image read from a stream (read to its end, not disposed).</summary>
    /// <param name="stream">The encoded image.</param>
    /// <param name="name">A name for messages, such as the upload's file name.</param>
    /// <exception cref="InvalidImageException">The data is not a decodable image, or exceeds <see cref="Limits"/>.</exception>
    public PreprocessedImage Preprocess(Stream stream, string name = "stream") =>
        Finish(ImageDecoder.DecodeStream(stream, name, Limits), name);

    /// <summary>Decodes and preprocesses an encoded image held in memory.</summary>
    /// <param name="encoded">The encoded image bytes.</param>
    /// <param name="name">A name for messages.</param>
    /// <exception cref="InvalidImageException">The data is not a decodable image, or exceeds <see cref="Limits"/>.</exception>
    public PreprocessedImage Preprocess(byte[] encoded, string name = "image bytes")
    {
        ArgumentNullException.ThrowIfNull(encoded);
        return Finish(ImageDecoder.DecodeBytes(encoded, name, Limits), name);
    }

    /// <summary>
    /// Preprocesses a bitmap that is already decoded and upright. The bitmap is copied (alpha dropped), not disposed.
    /// </summary>
    /// <param name="bitmap">Any colour type Skia can convert to RGBA.</param>
    /// <param name="name">A name for messages.</param>
    /// <exception cref="InvalidImageException">The bitmap is empty or its pixels cannot be read.</exception>
    public PreprocessedImage Preprocess(SKBitmap bitmap, string name = "bitmap")
    {
        SKBitmap copy = ImageDecoder.ToOpaqueRgba(bitmap, name);
        return Finish(new DecodedPhoto(copy, copy.Width, copy.Height), name);
    }

    /// <summary>Decodes an image file into an upright RGBA photo (alpha 255) without preprocessing it.</summary>
    /// <param name="path">The image file.</param>
    /// <returns>The photo; the caller disposes it.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidImageException">The file is not a decodable image, or exceeds <see cref="Limits"/>.</exception>
    public SKBitmap Decode(string path) => ImageDecoder.DecodeFile(path, Limits).Photo;

    /// <summary>Decodes an encoded image from a stream (read to its end, not disposed) into an upright RGBA photo.</summary>
    /// <param name="stream">The encoded image.</param>
    /// <param name="name">A name for messages.</param>
    /// <returns>The photo; the caller disposes it.</returns>
    /// <exception cref="InvalidImageException">The data is not a decodable image, or exceeds <see cref="Limits"/>.</exception>
    public SKBitmap Decode(Stream stream, string name = "stream") => ImageDecoder.DecodeStream(stream, name, Limits).Photo;

    /// <summary>Decodes an encoded image held in memory into an upright RGBA photo (alpha 255).</summary>
    /// <param name="encoded">The encoded image bytes.</param>
    /// <param name="name">A name for messages.</param>
    /// <returns>The photo; the caller disposes it.</returns>
    /// <exception cref="InvalidImageException">The data is not a decodable image, or exceeds <see cref="Limits"/>.</exception>
    public SKBitmap Decode(byte[] encoded, string name = "image bytes")
    {
        ArgumentNullException.ThrowIfNull(encoded);
        return ImageDecoder.DecodeBytes(encoded, name, Limits).Photo;
    }

    /// <summary>
    /// Preprocesses an upright photo into a caller's buffer (for example one item's slice of a batch), without
    /// allocating the output tensor.
    /// </summary>
    /// <param name="photo">The upright photo; RGBA photos from <see cref="Decode(string)"/> are read without conversion.</param>
    /// <param name="destination">
    /// Receives <see cref="InputLength"/> floats, <c>[channel, height, width]</c>.
    /// </param>
    /// <returns>The region of <paramref name="photo"/> the model sees, in its pixel coordinates.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="InputLength"/>.</exception>
    public SKRect PreprocessInto(SKBitmap photo, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(photo);
        if (destination.Length < InputLength)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} floats; one {Config.Channels}×{Config.ImageHeight}×{Config.ImageWidth} image needs {InputLength}.",
                nameof(destination));
        }

        Plan plan = PlanFor(Config, photo.Width, photo.Height);
        SKBitmap? converted = photo.ColorType != SKColorType.Rgba8888 || photo.AlphaType == SKAlphaType.Premul
            ? ImageDecoder.ToOpaqueRgba(photo, "bitmap")
            : null;
        try
        {
            // RGBA read in place: the resampler skips the fourth byte (PIL's convert("RGB") drops alpha).
            SKBitmap rgba = converted ?? photo;
            byte[] resized = PilResampler.Resize(rgba.GetPixelSpan(), rgba.Width, rgba.Height, rgba.RowBytes, 4,
                plan.ResizedWidth, plan.ResizedHeight, plan.FilterOverride ?? Config.Preprocess.Resample);
            Normalise(resized, plan, destination[..InputLength]);
        }
        finally
        {
            converted?.Dispose();
        }

        float sx = (float)photo.Width / plan.ResizedWidth, sy = (float)photo.Height / plan.ResizedHeight;
        return new SKRect(plan.CropX * sx, plan.CropY * sy,
            (plan.CropX + Config.ImageWidth) * sx, (plan.CropY + Config.ImageHeight) * sy);
    }

    /// <summary>
    /// How a photo is resized and cropped: resize to (width, height), then take the model-size box at (x, y).
    /// <see cref="FilterOverride"/> replaces the config's filter where the reference pipeline does (timm's non-square
    /// eval transform resizes bilinearly whatever its interpolation says).
    /// </summary>
    internal readonly record struct Plan(int ResizedWidth, int ResizedHeight, int CropX, int CropY)
    {
        public ResampleFilter? FilterOverride { get; init; }
    }

    /// <summary>The resize and crop for a photo of the given size under a config; see <see cref="PreprocessConfig"/>.</summary>
    internal static Plan PlanFor(VitConfig config, int photoWidth, int photoHeight)
    {
        int h = config.ImageHeight, w = config.ImageWidth;
        PreprocessConfig p = config.Preprocess;
        if (p.CropPct is { } pctFloat)
        {
            return TimmPlan(h, w, pctFloat, photoWidth, photoHeight);
        }

        if (p.ResizeShortestEdge is { } edge)
        {
            // transformers get_resize_output_image_size(size=edge, default_to_square=False), then center_crop.
            (int rw, int rh) = ShortSide(edge, photoWidth, photoHeight);
            return new Plan(rw, rh, FloorOffset(rw, w), FloorOffset(rh, h));
        }

        if (p.ResizeHeight is { } resizeH && p.ResizeWidth is { } resizeW)
        {
            // transformers resize to size {height, width} (the aspect ratio is not kept), then center_crop.
            return new Plan(resizeW, resizeH, FloorOffset(resizeW, w), FloorOffset(resizeH, h));
        }

        return new Plan(w, h, 0, 0);
    }

    /// <summary>timm's eval transform (<c>transforms_imagenet_eval</c>, crop_mode 'center') for a model of h × w.</summary>
    private static Plan TimmPlan(int h, int w, float pctFloat, int photoWidth, int photoHeight)
    {
        // The config's crop_pct came from JSON as a short decimal; recover that decimal rather than the float's binary
        // expansion so that floor(size / crop_pct) agrees with Python's double arithmetic.
        double pct = double.Parse(pctFloat.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        int scaleH = (int)Math.Floor(h / pct), scaleW = (int)Math.Floor(w / pct);
        if (scaleH == scaleW)
        {
            // torchvision Resize(int): the short side to the scale, the long side int()-truncated; crop_pct 1.0 included.
            (int rw, int rh) = ShortSide(scaleH, photoWidth, photoHeight);
            return new Plan(rw, rh, RoundOffset(rw, w), RoundOffset(rh, h));
        }

        // timm ResizeKeepRatio((scaleH, scaleW), longest=0): ratio = min(photo/target) over the two axes, sizes round()ed
        // (half to even, as Python's round), bilinear because the eval transform does not pass its interpolation on.
        double ratio = Math.Min((double)photoHeight / scaleH, (double)photoWidth / scaleW);
        int nh = (int)Math.Round(photoHeight / ratio, MidpointRounding.ToEven);
        int nw = (int)Math.Round(photoWidth / ratio, MidpointRounding.ToEven);
        nh = Math.Max(nh, h);
        nw = Math.Max(nw, w);
        return new Plan(nw, nh, RoundOffset(nw, w), RoundOffset(nh, h)) { FilterOverride = ResampleFilter.Bilinear };
    }

    /// <summary>The short side to <paramref name="edge"/>, the long side <c>int(edge · long / short)</c> (torchvision, transformers).</summary>
    private static (int Width, int Height) ShortSide(int edge, int photoWidth, int photoHeight) =>
        photoWidth <= photoHeight
            ? (edge, (int)((double)edge * photoHeight / photoWidth))
            : ((int)((double)edge * photoWidth / photoHeight), edge);

    /// <summary>torchvision <c>CenterCrop</c>: <c>int(round((resized − crop) / 2.0))</c>, Python's round (half to even).</summary>
    private static int RoundOffset(int resized, int crop) => (int)Math.Round((resized - crop) / 2.0, MidpointRounding.ToEven);

    /// <summary>transformers <c>center_crop</c>: <c>(resized − crop) // 2</c>.</summary>
    private static int FloorOffset(int resized, int crop) => (resized - crop) / 2;

    private PreprocessedImage Finish(DecodedPhoto decoded, string source)
    {
        try
        {
            var pixels = new float[InputLength]; // [channel, height, width]
            SKRect crop = PreprocessInto(decoded.Photo, pixels);
            return new PreprocessedImage(source, decoded.Photo, decoded.SourceWidth, decoded.SourceHeight, crop, pixels);
        }
        catch
        {
            decoded.Photo.Dispose();
            throw;
        }
    }

    /// <summary>Crops the resized image and writes <c>(v · rescale − mean) / std</c> as <c>[C, H, W]</c>.</summary>
    private void Normalise(ReadOnlySpan<byte> resized, Plan plan, Span<float> destination)
    {
        PreprocessConfig p = Config.Preprocess;
        int h = Config.ImageHeight, w = Config.ImageWidth, plane = h * w;
        float rescale = p.RescaleFactor;
        for (int c = 0; c < 3; c++)
        {
            float mean = p.Mean[c], std = p.Std[c];
            Span<float> channel = destination.Slice(c * plane, plane);
            for (int y = 0; y < h; y++)
            {
                int row = ((plan.CropY + y) * plan.ResizedWidth + plan.CropX) * 3 + c;
                for (int x = 0; x < w; x++)
                {
                    channel[y * w + x] = (resized[row + x * 3] * rescale - mean) / std;
                }
            }
        }
    }
}
