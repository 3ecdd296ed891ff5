using System.Globalization;
using System.Runtime.InteropServices;
using SkiaSharp;

namespace VitAttention.Inference;

/// <summary>
/// Decodes encoded images with SkiaSharp under <see cref="ImageLimits"/>: EXIF orientation applied, alpha dropped
/// (not premultiplied), grey and palette images expanded to RGB, 16-bit samples reduced to 8 bits, and images above
/// <see cref="ImageLimits.MaxPixels"/> decoded downscaled.
/// </summary>
internal static class ImageDecoder
{
    private const string Formats = "JPEG, PNG, WebP, GIF, BMP, ICO or WBMP";

    /// <summary>Decodes an image file.</summary>
    public static DecodedPhoto DecodeFile(string path, ImageLimits limits)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            throw new FileNotFoundException($"Image file '{path}' does not exist.", path);
        }

        // A pooled buffer: the bytes are only needed while Skia copies them, and a fresh array per photo would leave
        // large-object garbage behind on every image of a long run. The size is the opened file's (a symbolic link's
        // own FileInfo.Length is the link's, not its target's).
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new InvalidImageException($"Image file '{path}' could not be read: {e.Message}", e);
        }

        using (stream)
        {
            long size = stream.Length;
            if (size > limits.MaxEncodedBytes)
            {
                throw TooManyBytes(path, size.ToString(CultureInfo.InvariantCulture), limits);
            }

            int length = (int)size;
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
            try
            {
                int read;
                try
                {
                    read = stream.ReadAtLeast(buffer.AsSpan(0, length), length, throwOnEndOfStream: false);
                }
                catch (IOException e)
                {
                    throw new InvalidImageException($"Image file '{path}' could not be read: {e.Message}", e);
                }

                return DecodeBytes(buffer.AsSpan(0, read), path, limits);
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Decodes an image from a stream, reading at most <see cref="ImageLimits.MaxEncodedBytes"/> bytes.</summary>
    public static DecodedPhoto DecodeStream(Stream stream, string name, ImageLimits limits)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException($"The stream for '{name}' cannot be read.", nameof(stream));
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + n > limits.MaxEncodedBytes)
            {
                throw TooManyBytes(name, "more than " + limits.MaxEncodedBytes.ToString(CultureInfo.InvariantCulture), limits);
            }

            buffer.Write(chunk, 0, n);
        }

        return DecodeBytes(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), name, limits);
    }

    /// <summary>Decodes an encoded image held in memory.</summary>
    public static DecodedPhoto DecodeBytes(ReadOnlySpan<byte> bytes, string name, ImageLimits limits)
    {
        if (bytes.IsEmpty)
        {
            throw new InvalidImageException($"Image '{name}' is empty (0 bytes): there is no picture to decode.");
        }

        if (bytes.Length > limits.MaxEncodedBytes)
        {
            throw TooManyBytes(name, bytes.Length.ToString(CultureInfo.InvariantCulture), limits);
        }

        using SKData data = SKData.CreateCopy(bytes);
        using SKCodec? codec = SKCodec.Create(data);
        if (codec is null)
        {
            if (Sniff(bytes) is { } format)
            {
                throw new InvalidImageException(
                    $"Image '{name}' starts like a {format} file but its header cannot be read: the file is truncated or damaged.");
            }

            string head = Convert.ToHexString(bytes[..Math.Min(8, bytes.Length)]);
            throw new InvalidImageException(
                $"Image '{name}' is not a picture this library can decode ({Formats} expected): its {bytes.Length} bytes " +
                $"start with {head}, which is no known format's signature, or the header is damaged.");
        }

        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0)
        {
            throw new InvalidImageException($"Image '{name}' declares an empty size {width}×{height}.");
        }

        long claimed = (long)width * height;
        if (claimed > limits.MaxSourcePixels)
        {
            throw new InvalidImageException(
                $"Image '{name}' claims {width}×{height} pixels ({Megapixels(claimed)} megapixels), more than " +
                $"ImageLimits.MaxSourcePixels ({Megapixels(limits.MaxSourcePixels)} megapixels); it was not decoded " +
                "(a decompression bomb, or far more detail than a ViT can use). Downscale it first, or raise the limit.");
        }

        SKBitmap decoded;
        if (claimed <= limits.MaxPixels)
        {
            decoded = DecodeAt(codec, width, height, name);
        }
        else
        {
            float desired = (float)Math.Sqrt((double)limits.MaxPixels / claimed);
            SKSizeI scaled = codec.GetScaledDimensions(desired);
            if (scaled.Width > 0 && scaled.Height > 0 && (long)scaled.Width * scaled.Height <= limits.MaxPixels)
            {
                decoded = DecodeAt(codec, scaled.Width, scaled.Height, name);
            }
            else
            {
                int factor = (int)Math.Ceiling(Math.Sqrt((double)claimed / limits.MaxPixels));
                while ((long)CeilDiv(width, factor) * CeilDiv(height, factor) > limits.MaxPixels)
                {
                    factor++;
                }

                decoded = DecodeSampled(codec, width, height, factor, name, limits)
                    ?? throw new InvalidImageException(
                        $"Image '{name}' is {width}×{height} pixels ({Megapixels(claimed)} megapixels), more than " +
                        $"ImageLimits.MaxPixels ({Megapixels(limits.MaxPixels)} megapixels), and its format " +
                        $"({codec.EncodedFormat}) cannot be decoded downscaled. Downscale it first, or raise the limit.");
            }
        }

        SKEncodedOrigin origin = codec.EncodedOrigin;
        bool swaps = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
            or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        SKBitmap upright = Orient(decoded, origin);
        return new DecodedPhoto(upright, swaps ? height : width, swaps ? width : height);
    }

    /// <summary>
    /// Copies a caller's bitmap into the canonical form: 8-bit RGBA, unpremultiplied colours, alpha set to 255.
    /// </summary>
    public static SKBitmap ToOpaqueRgba(SKBitmap bitmap, string name)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        if (bitmap.Width <= 0 || bitmap.Height <= 0)
        {
            throw new InvalidImageException($"Bitmap '{name}' is empty ({bitmap.Width}×{bitmap.Height}).");
        }

        var info = new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var copy = new SKBitmap(info);
        using SKPixmap? source = bitmap.PeekPixels();
        if (source is null || !source.ReadPixels(info, copy.GetPixels(), copy.RowBytes))
        {
            copy.Dispose();
            throw new InvalidImageException(
                $"Bitmap '{name}' ({bitmap.ColorType}, {bitmap.AlphaType}) has no readable pixels in memory or cannot be converted to RGBA.");
        }

        return MakeOpaque(copy);
    }

    private static InvalidImageException TooManyBytes(string name, string size, ImageLimits limits) =>
        new($"Image '{name}' is {size} bytes, more than ImageLimits.MaxEncodedBytes " +
            $"({limits.MaxEncodedBytes.ToString(CultureInfo.InvariantCulture)} bytes). Re-encode it smaller, or raise the limit.");

    private static string Megapixels(long pixels) =>
        (pixels / 1e6).ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>The format whose signature the bytes start with, or null.</summary>
    private static string? Sniff(ReadOnlySpan<byte> b) => b switch
    {
        [0x89, (byte)'P', (byte)'N', (byte)'G', ..] => "PNG",
        [0xFF, 0xD8, 0xFF, ..] => "JPEG",
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "GIF",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "WebP",
        [(byte)'B', (byte)'M', ..] => "BMP",
        _ => null,
    };

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;

    private static InvalidImageException Failed(string name, SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => new InvalidImageException(
            $"Image '{name}' is truncated: its data ends before the last row of pixels. The file is damaged or was cut short."),
        SKCodecResult.ErrorInInput => new InvalidImageException(
            $"Image '{name}' is corrupt: its pixel data has errors ({result})."),
        _ => new InvalidImageException($"Image '{name}' could not be decoded ({result})."),
    };

    /// <summary>Decodes the whole image at a size the codec supports (the full size, or one of its scaled sizes).</summary>
    private static SKBitmap DecodeAt(SKCodec codec, int width, int height, string name)
    {
        // Opaque sources (JPEG, most PNGs) decode as opaque: no alpha handling at all. Others decode unpremultiplied,
        // so the stored colours survive, and then lose their alpha. No colour space on the destination: Skia then
        // converts nothing, as PIL does not.
        bool opaque = codec.Info.AlphaType == SKAlphaType.Opaque;
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        var bitmap = new SKBitmap(info);
        SKCodecResult result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            bitmap.Dispose();
            throw Failed(name, result);
        }

        return opaque ? bitmap : MakeOpaque(bitmap);
    }

    /// <summary>
    /// Decodes row by row, averaging each <paramref name="factor"/> × <paramref name="factor"/> block, so that only one
    /// full-width row and one row of sums are held besides the small output. Null when the codec cannot decode line
    /// by line (Skia's PNG, GIF and WebP decoders cannot; JPEG and BMP can).
    /// </summary>
    private static SKBitmap? DecodeSampled(SKCodec codec, int width, int height, int factor, string name, ImageLimits limits)
    {
        if (width > limits.MaxPixels || width > int.MaxValue / 4)
        {
            return null;
        }

        var rowInfo = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        if (codec.StartScanlineDecode(rowInfo) != SKCodecResult.Success)
        {
            return null;
        }

        bool bottomUp = codec.ScanlineOrder == SKCodecScanlineOrder.BottomUp;
        int outWidth = CeilDiv(width, factor), outHeight = CeilDiv(height, factor);
        var output = new SKBitmap(new SKImageInfo(outWidth, outHeight, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        byte[] row = new byte[width * 4];            // [width, RGBA] one decoded scanline
        long[] sums = new long[outWidth * 3];        // [outWidth, RGB] sums over the current block row
        Span<byte> dst = output.GetPixelSpan();
        int rowsInBlock = 0;
        unsafe
        {
            fixed (byte* p = row)
            {
                for (int i = 0; i < height; i++)
                {
                    if (codec.GetScanlines((IntPtr)p, 1, row.Length) != 1)
                    {
                        output.Dispose();
                        throw Failed(name, SKCodecResult.IncompleteInput);
                    }

                    for (int x = 0; x < width; x++)
                    {
                        int s = (x / factor) * 3;
                        sums[s] += row[x * 4];
                        sums[s + 1] += row[x * 4 + 1];
                        sums[s + 2] += row[x * 4 + 2];
                    }

                    rowsInBlock++;
                    int y = bottomUp ? height - 1 - i : i;            // the image row just decoded
                    int nextY = bottomUp ? y - 1 : y + 1;             // the row that comes next, if any
                    bool blockDone = i == height - 1 || nextY / factor != y / factor;
                    if (!blockDone)
                    {
                        continue;
                    }

                    Span<byte> line = dst.Slice(y / factor * output.RowBytes, outWidth * 4);
                    for (int ox = 0; ox < outWidth; ox++)
                    {
                        long cells = (long)rowsInBlock * (Math.Min(width, (ox + 1) * factor) - ox * factor);
                        for (int c = 0; c < 3; c++)
                        {
                            line[ox * 4 + c] = (byte)((sums[ox * 3 + c] + cells / 2) / cells);
                        }

                        line[ox * 4 + 3] = 255;
                    }

                    Array.Clear(sums);
                    rowsInBlock = 0;
                }
            }
        }

        return output;
    }

    /// <summary>
    /// Sets every alpha to 255: PIL's <c>convert("RGB")</c> drops alpha, keeping the stored (unpremultiplied) colours.
    /// The bitmap stays <see cref="SKAlphaType.Unpremul"/>, which draws exactly as opaque with alpha 255.
    /// </summary>
    private static SKBitmap MakeOpaque(SKBitmap bitmap)
    {
        Span<byte> pixels = bitmap.GetPixelSpan();
        for (int y = 0; y < bitmap.Height; y++)
        {
            Span<byte> line = pixels.Slice(y * bitmap.RowBytes, bitmap.Width * 4);
            for (int i = 3; i < line.Length; i += 4)
            {
                line[i] = 255;
            }
        }

        return bitmap;
    }

    /// <summary>Rotates and mirrors the decoded pixels so that the photo is upright, as the EXIF orientation asks.</summary>
    private static SKBitmap Orient(SKBitmap source, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft || !Enum.IsDefined(origin))
        {
            return source;
        }

        int w = source.Width, h = source.Height;
        bool swaps = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
            or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swaps ? h : w, oh = swaps ? w : h;
        var output = new SKBitmap(new SKImageInfo(ow, oh, SKColorType.Rgba8888, source.AlphaType));
        ReadOnlySpan<byte> srcBytes = source.GetPixelSpan();
        Span<byte> dstBytes = output.GetPixelSpan();
        int srcStride = source.RowBytes / 4, dstStride = output.RowBytes / 4;
        ReadOnlySpan<uint> src = MemoryMarshal.Cast<byte, uint>(srcBytes);
        Span<uint> dst = MemoryMarshal.Cast<byte, uint>(dstBytes);
        for (int oy = 0; oy < oh; oy++)
        {
            for (int ox = 0; ox < ow; ox++)
            {
                (int sx, int sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - ox, oy),        // mirrored left-right
                    SKEncodedOrigin.BottomRight => (w - 1 - ox, h - 1 - oy), // rotated 180°
                    SKEncodedOrigin.BottomLeft => (ox, h - 1 - oy),      // mirrored top-bottom
                    SKEncodedOrigin.LeftTop => (oy, ox),                 // transposed
                    SKEncodedOrigin.RightTop => (oy, h - 1 - ox),        // stored rotated 90° anticlockwise
                    SKEncodedOrigin.RightBottom => (w - 1 - oy, h - 1 - ox), // transversed
                    SKEncodedOrigin.LeftBottom => (w - 1 - oy, ox),      // stored rotated 90° clockwise
                    _ => (ox, oy),
                };
                dst[oy * dstStride + ox] = src[sy * srcStride + sx];
            }
        }

        source.Dispose();
        return output;
    }
}
