using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Onnx;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// Every hostile input the issue lists, fed to the CLI: an exit code in 1..127 that names the error class, one line
/// on stderr that names the input, and no stack trace unless <c>--verbose</c>. Also: outputs are written without
/// leaving temporary files and never over the inputs.
/// </summary>
[TestFixture]
[NonParallelizable] // one case sets HF_HUB_OFFLINE / HF_HUB_CACHE
public sealed class CliInputErrorTests
{
    private const int Model = 3, Image = 4, Hub = 5, File = 7;

    private string _dir = null!;

    [SetUp]
    public void CreateTemp() => _dir = FixturePaths.NewTempFolder();

    [TearDown]
    public void DeleteTemp() => Directory.Delete(_dir, recursive: true);

    private static string Hf => FixturePaths.HfFolder;

    private static string Cat => FixturePaths.Image("chelsea.png");

    private static string InferenceImage(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "Inference", "Images", name);

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("image-empty", Image).SetName("Classify_EmptyImage_Exit4OneLine");
        yield return new TestCaseData("image-random", Image).SetName("Classify_RandomBytesImage_Exit4OneLine");
        yield return new TestCaseData("image-bomb", Image).SetName("Classify_DecompressionBombPng_Exit4OneLine");
        yield return new TestCaseData("image-truncated-jpeg", Image).SetName("Classify_TruncatedJpeg_Exit4OneLine");
        yield return new TestCaseData("image-missing", File).SetName("Classify_MissingImage_Exit7OneLine");
        yield return new TestCaseData("model-truncated-safetensors", Model).SetName("Classify_TruncatedSafetensors_Exit3OneLine");
        yield return new TestCaseData("model-absurd-header-length", Model).SetName("Classify_AbsurdSafetensorsHeaderLength_Exit3OneLine");
        yield return new TestCaseData("model-no-config", Model).SetName("Classify_FolderWithoutConfigJson_Exit3OneLine");
        yield return new TestCaseData("model-heads-do-not-divide", Model).SetName("Classify_HeadsDoNotDivideWidth_Exit3OneLine");
        yield return new TestCaseData("model-random-onnx", Model).SetName("Classify_RandomBytesOnnx_Exit3OneLine");
        yield return new TestCaseData("model-onnx-not-vit", Model).SetName("Classify_ValidOnnxNotAViT_Exit3OneLine");
        yield return new TestCaseData("hub-offline-cold-cache", Hub).SetName("Classify_HubIdOfflineColdCache_Exit5OneLine");
        yield return new TestCaseData("model-bad-mean-pretty-json", Model).SetName("Classify_PrettyPrintedBadImageMean_Exit3OneLine");
    }

    [TestCaseSource(nameof(Cases))]
    public void Classify_HostileInput_ExitCodeAndOneLineNamingInput(string kind, int expected)
    {
        var (image, model, named) = Make(kind);
        string? offline = Environment.GetEnvironmentVariable("HF_HUB_OFFLINE");
        string? cache = Environment.GetEnvironmentVariable("HF_HUB_CACHE");
        try
        {
            if (kind.StartsWith("hub", StringComparison.Ordinal))
            {
                Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", "1");
                Environment.SetEnvironmentVariable("HF_HUB_CACHE", Path.Combine(_dir, "hub-cache"));
            }

            var (code, _, err) = Run("classify", image, "--model", model);
            string[] lines = err.TrimEnd().Split('\n');
            Assert.That(code, Is.EqualTo(expected), err);
            Assert.That(code, Is.InRange(1, 127));
            Assert.That(lines, Has.Length.EqualTo(1), err);
            Assert.That(err, Does.StartWith("vit-attention: ").And.Contain(named));
            Assert.That(err, Does.Not.Contain("   at "));

            var (verboseCode, _, verboseErr) = Run("classify", image, "--model", model, "--verbose");
            Assert.That(verboseCode, Is.EqualTo(code));
            Assert.That(verboseErr, Does.Contain("   at "), "--verbose prints the stack trace");
        }
        finally
        {
            Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", offline);
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", cache);
        }
    }

    [Test]
    public void Explain_OutIsThePhotosFolder_PhotoUntouchedAndNoTemporaryFilesLeft()
    {
        string photo = Path.Combine(_dir, "chelsea.png");
        System.IO.File.Copy(Cat, photo);
        byte[] before = System.IO.File.ReadAllBytes(photo);
        var (code, _, err) = Run("explain", photo, "--model", Hf, "--out", _dir);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(System.IO.File.ReadAllBytes(photo), Is.EqualTo(before));
        string[] files = Directory.GetFiles(_dir).Select(Path.GetFileName).ToArray()!;
        Assert.That(files.Length, Is.GreaterThan(1), "explain wrote its figures");
        Assert.That(files.Where(f => f.EndsWith(".tmp", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void Explain_SecondPhotoBroken_Exit4AndNoTemporaryFilesLeft()
    {
        string bad = Path.Combine(_dir, "broken.png");
        System.IO.File.WriteAllBytes(bad, [0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10, 0, 0]);
        string outDir = Path.Combine(_dir, "out");
        var (code, _, err) = Run("explain", Cat, bad, "--model", Hf, "--out", outDir);
        Assert.That(code, Is.EqualTo(Image), err);
        Assert.That(err, Does.Contain("broken.png"));
        string[] left = Directory.Exists(outDir) ? Directory.GetFiles(outDir, "*.tmp", SearchOption.AllDirectories) : [];
        Assert.That(left, Is.Empty);
    }

    /// <summary>Builds the input of a case in the temp folder: (image argument, model argument, text the message must contain).</summary>
    private (string Image, string Model, string Named) Make(string kind)
    {
        switch (kind)
        {
            case "image-empty":
                return (InferenceImage("empty.png"), Hf, "empty.png");
            case "image-random":
                return (InferenceImage("random.png"), Hf, "random.png");
            case "image-bomb":
                return (InferenceImage("bomb.png"), Hf, "bomb.png");
            case "image-truncated-jpeg":
            {
                string path = Path.Combine(_dir, "half.jpg");
                byte[] jpeg = System.IO.File.ReadAllBytes(FixturePaths.Image("chelsea.jpg"));
                System.IO.File.WriteAllBytes(path, jpeg[..(jpeg.Length / 2)]);
                return (path, Hf, "half.jpg");
            }

            case "image-missing":
                return (Path.Combine(_dir, "no-such-photo.jpg"), Hf, "no-such-photo.jpg");
            case "model-truncated-safetensors":
            {
                string folder = CopyHf("truncated-weights");
                string weights = Path.Combine(folder, "model.safetensors");
                byte[] bytes = System.IO.File.ReadAllBytes(weights);
                System.IO.File.WriteAllBytes(weights, bytes[..(bytes.Length - 1000)]);
                return (Cat, folder, "model.safetensors");
            }

            case "model-absurd-header-length":
            {
                string folder = CopyHf("absurd-header");
                string weights = Path.Combine(folder, "model.safetensors");
                byte[] bytes = System.IO.File.ReadAllBytes(weights);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 60);
                System.IO.File.WriteAllBytes(weights, bytes);
                return (Cat, folder, "model.safetensors");
            }

            case "model-no-config":
            {
                string folder = CopyHf("no-config");
                System.IO.File.Delete(Path.Combine(folder, "config.json"));
                return (Cat, folder, "no-config");
            }

            case "model-heads-do-not-divide":
            {
                string folder = CopyHf("five-heads");
                string config = Path.Combine(folder, "config.json");
                var json = JsonNode.Parse(System.IO.File.ReadAllText(config))!;
                json["num_attention_heads"] = 5;
                System.IO.File.WriteAllText(config, json.ToJsonString());
                return (Cat, folder, "config.json");
            }

            case "model-random-onnx":
            {
                string path = Path.Combine(_dir, "random.onnx");
                var bytes = new byte[4096];
                new Random(17).NextBytes(bytes);
                System.IO.File.WriteAllBytes(path, bytes);
                return (Cat, path, "random.onnx");
            }

            case "model-onnx-not-vit":
            {
                string path = Path.Combine(_dir, "relu.onnx");
                System.IO.File.WriteAllBytes(path, ReluModel().ToByteArray());
                return (Cat, path, "relu.onnx");
            }

            case "model-bad-mean-pretty-json":
            {
                // The message quotes the offending JSON value; pretty-printed JSON spans lines.
                string folder = CopyHf("bad-mean");
                string preprocessor = Path.Combine(folder, "preprocessor_config.json");
                var json = JsonNode.Parse(System.IO.File.ReadAllText(preprocessor))!;
                json["image_mean"] = new JsonArray(0.5, true, 0.5);
                System.IO.File.WriteAllText(preprocessor, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return (Cat, folder, "preprocessor_config.json");
            }

            case "hub-offline-cold-cache":
                return (Cat, "nobody-here/no-such-vit", "nobody-here/no-such-vit");
            default:
                throw new ArgumentException($"unknown case {kind}", nameof(kind));
        }
    }

    private string CopyHf(string name)
    {
        string folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        foreach (string file in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
        {
            System.IO.File.Copy(Path.Combine(Hf, file), Path.Combine(folder, file));
        }

        return folder;
    }

    /// <summary>A valid ONNX model with an image-shaped input that is not a ViT: y = Relu(x).</summary>
    private static ModelProto ReluModel()
    {
        static ValueInfoProto Tensor(string name)
        {
            var shape = new TensorShapeProto();
            foreach (long d in new long[] { 1, 3, 32, 32 })
            {
                shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            }

            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
        }

        var graph = new GraphProto { Name = "not-a-vit" };
        graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "pixel_values" }, Output = { "y" }, Name = "relu" });
        graph.Input.Add(Tensor("pixel_values"));
        graph.Output.Add(Tensor("y"));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }
}
