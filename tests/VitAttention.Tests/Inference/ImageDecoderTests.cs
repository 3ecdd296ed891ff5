using SkiaSharp;
using VitAttention.Inference;

namespace VitAttention.Tests.Inference;

/// <summary>
/// Odd but valid images decode to what PIL's convert("RGB") (after exif_transpose) gives; bad ones fail with an
/// <see cref="InvalidImageException"/> that names the file. Inputs are under Inference/Images (make_references.py).
/// </summary>
public class ImageDecoderTests
{
    // PNG decoding is lossless: the same bytes. JPEG decoders (PIL's libjpeg vs Skia's libjpeg-turbo) may round
    // their inverse DCT and chroma upsampling differently by a few levels.
    [TestCase("grey8.png", 0)]
    [TestCase("rgba.png", 0)]
    [TestCase("grey_alpha.png", 0)]
    [TestCase("palette.png", 0)]
    [TestCase("palette_transparent.png", 0)]
    [TestCase("one_pixel.png", 0)]
    [TestCase("grey16.png", 1)]
    [TestCase("rgb16.png", 1)]
    [TestCase("one_pixel_jpeg.jpg", 3)]
    [TestCase("cmyk.jpg", 3)]
    [TestCase("lossless.webp", 0)]
    [TestCase("exif2.jpg", 3)]
    [TestCase("exif3.jpg", 3)]
    [TestCase("exif4.jpg", 3)]
    [TestCase("exif5.jpg", 3)]
    [TestCase("exif6.jpg", 3)]
    [TestCase("exif7.jpg", 3)]
    [TestCase("exif8.jpg", 3)]
    [TestCase("exif_bad_orientation.jpg", 3)]
    [TestCase("exif_garbage.jpg", 3)]
    public void Decode_OddImage_MatchesPilConvertRgb(string file, int tolerance)
    {
        (byte[] expected, int ew, int eh) = InferenceTestData.LoadRgb(
            InferenceTestData.Odd(Path.GetFileNameWithoutExtension(file) + ".expected.png"));

        DecodedPhoto decoded = ImageDecoder.DecodeFile(InferenceTestData.Odd(file), ImageLimits.Default);
        using SKBitmap photo = decoded.Photo;

        Assert.That((photo.Width, photo.Height), Is.EqualTo((ew, eh)), "size (after EXIF orientation)");
        Assert.That((decoded.SourceWidth, decoded.SourceHeight), Is.EqualTo((ew, eh)));
        byte[] actual = InferenceTestData.ToRgb(photo);
        int max = InferenceTestData.MaxDifference(actual, expected);
        TestContext.Out.WriteLine($"{file}: max difference {max}");
        Assert.That(max, Is.LessThanOrEqualTo(tolerance));
        Assert.That(photo.GetPixel(0, 0).Alpha, Is.EqualTo((byte)255), "alpha is dropped");
    }

    [Test]
    public void Decode_GifWithTransparentIndex_MatchesPilExceptTransparentPixelsWhichAreBlack()
    {
        // A GIF's transparent pixels have no defined colour: PIL's convert("RGB") shows the palette entry, Skia leaves
        // them transparent black (then alpha is dropped). Every other pixel must match exactly.
        (byte[] expected, int w, int h) = InferenceTestData.LoadRgb(InferenceTestData.Odd("palette_gif.expected.png"));
        (byte[] mask, _, _) = InferenceTestData.LoadRgb(InferenceTestData.Odd("palette_gif.transparent.png"));

        using SKBitmap photo = ImageDecoder.DecodeFile(InferenceTestData.Odd("palette_gif.gif"), ImageLimits.Default).Photo;

        Assert.That((photo.Width, photo.Height), Is.EqualTo((w, h)));
        byte[] actual = InferenceTestData.ToRgb(photo);
        int transparent = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            bool isTransparent = mask[i - i % 3] != 0;
            transparent += isTransparent && i % 3 == 0 ? 1 : 0;
            Assert.That(actual[i], Is.EqualTo(isTransparent ? (byte)0 : expected[i]), $"sample {i}");
        }

        Assert.That(transparent, Is.GreaterThan(0), "the GIF has transparent pixels");
    }

    [TestCase("exif6.jpg")]
    [TestCase("exif8.jpg")]
    public void Decode_RotatedExif_IsUprightAndNotTheUnrotatedImage(string file)
    {
        // The stored image is 40×24; orientations 6 and 8 display it 24×40. A decoder that ignored the tag would
        // also fail the size check above, but check the pixels differ from the other rotation too.
        using SKBitmap photo = ImageDecoder.DecodeFile(InferenceTestData.Odd(file), ImageLimits.Default).Photo;
        string other = file == "exif6.jpg" ? "exif8.expected.png" : "exif6.expected.png";
        (byte[] wrong, _, _) = InferenceTestData.LoadRgb(InferenceTestData.Odd(other));

        Assert.That((photo.Width, photo.Height), Is.EqualTo((24, 40)));
        Assert.That(InferenceTestData.MaxDifference(InferenceTestData.ToRgb(photo), wrong), Is.GreaterThan(30));
    }

    [TestCase("empty.png", "is empty (0 bytes)")]
    [TestCase("truncated.png", "starts like a PNG file but its header cannot be read: the file is truncated or damaged")]
    [TestCase("random.png", "is not a picture this library can decode")]
    [TestCase("text.png", "is not a picture this library can decode")]
    [TestCase("bomb.png", "claims 40000×40000 pixels (1600 megapixels), more than ImageLimits.MaxSourcePixels")]
    public void Decode_BadImage_ThrowsInvalidImageExceptionNamingTheFile(string file, string message)
    {
        string path = InferenceTestData.Odd(file);

        Assert.That(() => ImageDecoder.DecodeFile(path, ImageLimits.Default),
            Throws.TypeOf<InvalidImageException>()
                .With.Message.Contains(path)
                .And.Message.Contains(message));
    }

    [Test]
    public void Decode_MissingFile_ThrowsFileNotFound()
    {
        string path = InferenceTestData.Odd("no-such-photo.jpg");

        Assert.That(() => ImageDecoder.DecodeFile(path, ImageLimits.Default),
            Throws.TypeOf<FileNotFoundException>().With.Message.Contains(path));
    }

    [Test]
    public void Decode_OverEncodedByteLimit_ThrowsNamingTheLimit()
    {
        string path = FixturePaths.Image("chelsea.jpg");
        ImageLimits limits = ImageLimits.Default with { MaxEncodedBytes = 1000 };

        Assert.That(() => ImageDecoder.DecodeFile(path, limits),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains(path).And.Message.Contains("MaxEncodedBytes (1000 bytes)"));
        using FileStream stream = File.OpenRead(path);
        Assert.That(() => ImageDecoder.DecodeStream(stream, "upload.jpg", limits),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("upload.jpg").And.Message.Contains("MaxEncodedBytes"));
    }

    [Test]
    public void Decode_JpegOverPixelLimit_DecodesDownscaledByTheCodec()
    {
        // 451×300 = 135300 pixels; a 20000-pixel limit makes libjpeg-turbo scale by 3/8 or less.
        ImageLimits limits = ImageLimits.Default with { MaxPixels = 20_000 };
        DecodedPhoto full = ImageDecoder.DecodeFile(FixturePaths.Image("chelsea.jpg"), ImageLimits.Default);
        DecodedPhoto small = ImageDecoder.DecodeFile(FixturePaths.Image("chelsea.jpg"), limits);
        using SKBitmap fullPhoto = full.Photo, smallPhoto = small.Photo;

        Assert.That((long)smallPhoto.Width * smallPhoto.Height, Is.LessThanOrEqualTo(20_000));
        Assert.That(smallPhoto.Width, Is.GreaterThan(50), "downscaled, not reduced to nothing");
        Assert.That((small.SourceWidth, small.SourceHeight), Is.EqualTo((451, 300)));
        AssertSimilarToBoxAverage(fullPhoto, smallPhoto, maxMeanDifference: 6);
    }

    [Test]
    public void Decode_BmpOverPixelLimit_DecodesDownscaledBySampling()
    {
        // BMP has no codec scaling but decodes line by line (bottom up): the decoder averages 3×3 blocks as the
        // scanlines stream in. The BMP is written here from the PNG's pixels.
        ImageLimits limits = ImageLimits.Default with { MaxPixels = 20_000 };
        using SKBitmap fullPhoto = ImageDecoder.DecodeFile(FixturePaths.Image("chelsea.png"), ImageLimits.Default).Photo;
        byte[] bmp = WriteBmp(fullPhoto);

        DecodedPhoto small = ImageDecoder.DecodeBytes(bmp, "chelsea.bmp", limits);
        using SKBitmap smallPhoto = small.Photo;

        Assert.That((smallPhoto.Width, smallPhoto.Height), Is.EqualTo((151, 100)), "ceil(451 / 3) × ceil(300 / 3)");
        Assert.That((small.SourceWidth, small.SourceHeight), Is.EqualTo((451, 300)));
        AssertSimilarToBoxAverage(fullPhoto, smallPhoto, maxMeanDifference: 0.01, blockFactor: 3);
    }

    [Test]
    public void Decode_PngOverPixelLimit_ThrowsWithClaimedSizeAndLimit()
    {
        // Skia's PNG decoder can neither scale nor stream lines: a PNG above MaxPixels is refused, clearly.
        ImageLimits limits = ImageLimits.Default with { MaxPixels = 20_000 };
        string path = FixturePaths.Image("coffee.png");

        Assert.That(() => ImageDecoder.DecodeFile(path, limits),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains(path)
                .And.Message.Contains("600×400 pixels (0.24 megapixels)")
                .And.Message.Contains("ImageLimits.MaxPixels (0.02 megapixels)"));
    }

    [Test]
    public void Preprocess_DownscaledDecode_StaysCloseToFullResolution()
    {
        var preprocessor = new ImagePreprocessor(InferenceTestData.TinyHf(), ImageLimits.Default with { MaxPixels = 20_000 });
        var reference = new ImagePreprocessor(InferenceTestData.TinyHf());

        using PreprocessedImage small = preprocessor.Preprocess(FixturePaths.Image("chelsea.jpg"));
        using PreprocessedImage full = reference.Preprocess(FixturePaths.Image("chelsea.jpg"));

        double meanAbs = small.Pixels.Zip(full.Pixels, (a, b) => Math.Abs(a - b)).Average();
        TestContext.Out.WriteLine($"mean |downscaled − full| = {meanAbs}");
        Assert.That(meanAbs, Is.LessThan(0.05), "within about 6 levels on average after std 0.5");
        Assert.That(small.Crop, Is.EqualTo(new SKRect(0, 0, small.Photo.Width, small.Photo.Height)),
            "the crop is in the downscaled photo's pixels");
        Assert.That((small.SourceWidth, small.SourceHeight), Is.EqualTo((451, 300)));
    }

    [Test]
    public void Decode_TruncatedPixelData_ThrowsTruncated()
    {
        // Cut inside the pixel data (coffee.png has no large metadata, so the header survives).
        byte[] bytes = File.ReadAllBytes(FixturePaths.Image("coffee.png"));
        byte[] cut = bytes[..(bytes.Length / 2)];

        Assert.That(() => ImageDecoder.DecodeBytes(cut, "half-coffee.png", ImageLimits.Default),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("half-coffee.png").And.Message.Contains("is truncated"));
    }

    /// <summary>A 24-bit bottom-up BMP of a bitmap's RGB (BITMAPINFOHEADER, rows padded to 4 bytes).</summary>
    private static byte[] WriteBmp(SKBitmap bitmap)
    {
        int w = bitmap.Width, h = bitmap.Height, stride = (w * 3 + 3) & ~3;
        using var ms = new MemoryStream();
        using var writer = new BinaryWriter(ms);
        writer.Write((byte)'B');
        writer.Write((byte)'M');
        writer.Write(54 + stride * h);
        writer.Write(0);
        writer.Write(54);
        writer.Write(40);
        writer.Write(w);
        writer.Write(h);
        writer.Write((short)1);
        writer.Write((short)24);
        writer.Write(0);
        writer.Write(stride * h);
        writer.Write(2835);
        writer.Write(2835);
        writer.Write(0);
        writer.Write(0);
        for (int y = h - 1; y >= 0; y--)
        {
            for (int x = 0; x < w; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                writer.Write(c.Blue);
                writer.Write(c.Green);
                writer.Write(c.Red);
            }

            for (int pad = w * 3; pad < stride; pad++)
            {
                writer.Write((byte)0);
            }
        }

        writer.Flush();
        return ms.ToArray();
    }

    /// <summary>
    /// Compares a downscaled decode with a float64 box average of the full decode over the same footprint.
    /// </summary>
    private static void AssertSimilarToBoxAverage(SKBitmap full, SKBitmap small, double maxMeanDifference, int blockFactor = 0)
    {
        double fx = (double)full.Width / small.Width, fy = (double)full.Height / small.Height;
        double total = 0;
        int count = 0;
        for (int y = 0; y < small.Height; y++)
        {
            for (int x = 0; x < small.Width; x++)
            {
                int x0 = (int)(x * fx), x1 = Math.Min(full.Width, (int)Math.Ceiling((x + 1) * fx));
                int y0 = (int)(y * fy), y1 = Math.Min(full.Height, (int)Math.Ceiling((y + 1) * fy));
                if (blockFactor > 0)
                {
                    (x0, y0) = (x * blockFactor, y * blockFactor);
                    x1 = Math.Min(full.Width, x0 + blockFactor);
                    y1 = Math.Min(full.Height, y0 + blockFactor);
                }

                double r = 0, n = 0;
                for (int yy = y0; yy < y1; yy++)
                {
                    for (int xx = x0; xx < x1; xx++)
                    {
                        r += full.GetPixel(xx, yy).Red;
                        n++;
                    }
                }

                total += Math.Abs(Math.Round(r / n) - small.GetPixel(x, y).Red);
                count++;
            }
        }

        double mean = total / count;
        TestContext.Out.WriteLine($"mean |downscaled − box average| = {mean}");
        Assert.That(mean, Is.LessThanOrEqualTo(maxMeanDifference));
    }
}
