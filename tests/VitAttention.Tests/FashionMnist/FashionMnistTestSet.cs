using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace VitAttention.Tests.FashionMnist;

/// <summary>
/// The 10,000 Fashion-MNIST test images and labels, read from the idx files of the Debian package
/// <c>dataset-fashion-mnist</c> (gzip-compressed, big-endian headers), or from the folder <c>FASHION_MNIST_DIR</c> names.
/// </summary>
internal sealed class FashionMnistTestSet
{
    /// <summary>Where the Debian package installs the data set.</summary>
    public const string DefaultFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The environment variable that overrides <see cref="DefaultFolder"/>.</summary>
    public const string FolderVariable = "FASHION_MNIST_DIR";

    public const int Side = 28;

    private static readonly Lazy<FashionMnistTestSet> Shared = new(() => Read(Folder));

    private readonly byte[] _images; // [count, 28, 28]

    private FashionMnistTestSet(byte[] images, byte[] labels)
    {
        _images = images;
        Labels = labels;
    }

    /// <summary>The folder the data is read from.</summary>
    public static string Folder => Environment.GetEnvironmentVariable(FolderVariable) is { Length: > 0 } dir ? dir : DefaultFolder;

    public int Count => Labels.Length;

    /// <summary>The class of each image, 0 to 9.</summary>
    public byte[] Labels { get; }

    /// <summary>
    /// The test split, read once per test run. Fails the calling test, saying how to install the data, when the files
    /// are missing: the tests that use it prove the library on real data and must not pass silently without it.
    /// </summary>
    public static FashionMnistTestSet Load()
    {
        string images = Path.Combine(Folder, "t10k-images-idx3-ubyte.gz");
        if (!File.Exists(images))
        {
            Assert.Fail($"Fashion-MNIST is not installed: {images} does not exist. Install it with " +
                        $"`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set {FolderVariable} to a folder holding " +
                        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.");
        }

        return Shared.Value;
    }

    /// <summary>The 784 grey values of image <paramref name="index"/>, row-major.</summary>
    public ReadOnlySpan<byte> Pixels(int index) => _images.AsSpan(index * Side * Side, Side * Side);

    /// <summary>Image <paramref name="index"/> as an 8-bit grey PNG, as a user would hand the library a file.</summary>
    public byte[] Png(int index) => Png(Pixels(index));

    /// <summary>784 grey values, row-major, as an 8-bit grey 28 × 28 PNG.</summary>
    public static byte[] Png(ReadOnlySpan<byte> pixels)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(Side, Side, SKColorType.Gray8, SKAlphaType.Opaque));
        pixels.CopyTo(bitmap.GetPixelSpan());
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static FashionMnistTestSet Read(string folder)
    {
        byte[] images = ReadIdx(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), [10_000, Side, Side]);
        byte[] labels = ReadIdx(Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"), [10_000]);
        return new FashionMnistTestSet(images, labels);
    }

    /// <summary>An idx file: magic 0x0000 0x08 ndim, ndim big-endian int32 sizes, then the unsigned bytes.</summary>
    private static byte[] ReadIdx(string path, int[] expectedShape)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        byte[] all = buffer.ToArray();
        int magic = BinaryPrimitives.ReadInt32BigEndian(all);
        int ndim = magic & 0xFF;
        Assert.That(magic >> 8, Is.EqualTo(0x08), $"{path}: not an unsigned-byte idx file");
        var shape = Enumerable.Range(0, ndim).Select(i => BinaryPrimitives.ReadInt32BigEndian(all.AsSpan(4 + (4 * i)))).ToArray();
        Assert.That(shape, Is.EqualTo(expectedShape), $"{path}: unexpected shape");
        int header = 4 + (4 * ndim);
        Assert.That(all.Length - header, Is.EqualTo(shape.Aggregate(1, (a, b) => a * b)), $"{path}: data length");
        return all[header..];
    }
}
