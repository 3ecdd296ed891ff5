using System.Text.Json;
using VitAttention.Cli;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Cli;

[NonParallelizable]
public class CliTests
{
    private static string Hf => FixturePaths.HfFolder;

    private static string Cat => FixturePaths.Image("chelsea.png");

    [Test]
    public void Run_NoArguments_PrintsUsageAndExits2()
    {
        var (code, _, err) = Run();
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("usage: vit-attention"));
    }

    [Test]
    public void Run_UnknownCommand_OneLineExit2()
    {
        var (code, _, err) = Run("frobnicate");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(err, Does.Contain("unknown command 'frobnicate'"));
    }

    [Test]
    public void Classify_Json_WritesDocumentedShape()
    {
        var (code, stdout, err) = Run("classify", Cat, "--model", Hf, "--top-classes", "3", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(stdout);
        var predictions = doc.RootElement.GetProperty("predictions");
        Assert.That(predictions.GetArrayLength(), Is.EqualTo(3));
        Assert.That(predictions[0].GetProperty("probability").GetDouble(), Is.GreaterThanOrEqualTo(predictions[1].GetProperty("probability").GetDouble()));
        Assert.That(predictions[0].GetProperty("label").GetString(), Is.Not.Empty);
        var model = doc.RootElement.GetProperty("model");
        Assert.That(model.GetProperty("layers").GetInt32(), Is.EqualTo(3));
        Assert.That(model.GetProperty("heads").GetInt32(), Is.EqualTo(4));
        Assert.That(model.GetProperty("tokens").GetInt32(), Is.EqualTo(17));
        Assert.That(model.GetProperty("prefixTokens").GetInt32(), Is.EqualTo(1));
        Assert.That(model.GetProperty("grid").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 4, 4 }));
    }

    [Test]
    public void Classify_MissingImage_Exit7NamesFileWithoutStackTrace()
    {
        var (code, _, err) = Run("classify", "no-such-photo.jpg", "--model", Hf);
        Assert.That(code, Is.EqualTo(7));
        Assert.That(err, Does.Contain("no-such-photo.jpg"));
        Assert.That(err, Does.Not.Contain("   at "));
    }

    [Test]
    public void Classify_TextFileNamedPng_Exit4NamesFile()
    {
        string path = Path.Combine(TestContext.CurrentContext.TestDirectory, "Inference", "Images", "text.png");
        Assume.That(File.Exists(path), "the inference tests' text.png fixture");
        var (code, _, err) = Run("classify", path, "--model", Hf);
        Assert.That(code, Is.EqualTo(4));
        Assert.That(err, Does.Contain("text.png"));
    }

    [Test]
    public void Classify_BrokenModelFolder_Exit3()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), "{ not json");
            File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), [1, 2, 3]);
            var (code, _, err) = Run("classify", Cat, "--model", dir);
            Assert.That(code, Is.EqualTo(3));
            Assert.That(err, Does.Contain("config.json"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Classify_VerboseOnError_PrintsStackTrace()
    {
        var (code, _, err) = Run("classify", Cat, "--model", "no such model", "--verbose");
        Assert.That(code, Is.EqualTo(3));
        Assert.That(err, Does.Contain("   at "));
    }

    [Test]
    public void Classify_CudaOnCpuPackage_Exit6SaysHowToGetCuda()
    {
        var (code, _, err) = Run("classify", Cat, "--model", Hf, "--device", "cuda");
        Assert.That(code, Is.EqualTo(6), err);
        Assert.That(err, Does.Contain("CUDA"));
    }

    [Test]
    public void Classify_CudaWithFallback_RunsOnCpuAndWarns()
    {
        var (code, stdout, err) = Run("classify", Cat, "--model", Hf, "--device", "cuda", "--allow-cpu-fallback");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("warning").And.Contain("CPU"));
        Assert.That(stdout, Does.Contain("1."));
    }

    [Test]
    public void Run_UnknownOption_Exit2ListsKnownOptions()
    {
        var (code, _, err) = Run("classify", Cat, "--modle", Hf);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--modle").And.Contain("--model"));
    }

    [Test]
    public void Prepare_FixtureOnnx_WritesGraphThatClassifies()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            string output = Path.Combine(dir, "model.attn.onnx");
            var (code, stdout, err) = Run("prepare", "--model", Path.Combine(Hf, "model_logits_only.onnx"), "--out", output);
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(stdout, Does.Contain("attentions.2"));
            var (code2, json, err2) = Run("classify", Cat, "--model", output, "--json");
            Assert.That(code2, Is.EqualTo(0), err2);
            using var doc = JsonDocument.Parse(json);
            Assert.That(doc.RootElement.GetProperty("model").GetProperty("layers").GetInt32(), Is.EqualTo(3));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Prepare_OutputIsTheInput_RefusedAndInputKept()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            string input = Path.Combine(dir, "model.onnx");
            File.Copy(Path.Combine(Hf, "model_logits_only.onnx"), input);
            byte[] before = File.ReadAllBytes(input);
            var (code, _, err) = Run("prepare", "--model", input, "--out", input);
            Assert.That(code, Is.Not.EqualTo(0));
            Assert.That(err, Does.Contain("model.onnx"));
            Assert.That(File.ReadAllBytes(input), Is.EqualTo(before));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Explain_TwoPhotosWithRoi_WritesFiguresAndJsonPerImage()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            var (code, stdout, err) = Run("explain", Cat, FixturePaths.Image("coffee.png"), "--model", Hf, "--out", dir,
                "--roi", "100,50,200,200", "--layers", "1,3", "--top-layers", "2", "--colormap", "viridis", "--json");
            Assert.That(code, Is.EqualTo(0), err);
            foreach (string stem in new[] { "chelsea", "coffee" })
            {
                foreach (string suffix in new[] { ".cls.png", ".layers.png", ".focused.png", ".rollout.png", ".json" })
                {
                    Assert.That(File.Exists(Path.Combine(dir, stem + suffix)), stem + suffix);
                }

                using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, stem + ".json")));
                Assert.That(doc.RootElement.GetProperty("focusedLayers").GetArrayLength(), Is.EqualTo(2));
                Assert.That(doc.RootElement.GetProperty("focusMeasure").GetString(), Is.EqualTo("roiMass"));
                Assert.That(doc.RootElement.GetProperty("layers")[0].GetProperty("map").GetArrayLength(), Is.EqualTo(16));
            }

            using var summary = JsonDocument.Parse(stdout);
            Assert.That(summary.RootElement.GetProperty("images").GetArrayLength(), Is.EqualTo(2));
            Assert.That(summary.RootElement.GetProperty("comparisons").GetArrayLength(), Is.EqualTo(4));
            foreach (string suffix in new[] { ".cls.png", ".layers.png", ".focused.png", ".rollout.png" })
            {
                Assert.That(File.Exists(Path.Combine(dir, "chelsea_vs_coffee" + suffix)), "side by side " + suffix);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestCase("--clip-percentile", "20")]
    [TestCase("--roi", "1,2,3")]
    [TestCase("--alpha", "1.5")]
    [TestCase("--colormap", "rainbow")]
    [TestCase("--head-fusion", "median")]
    [TestCase("--layers", "0,2")]
    public void Explain_BadOption_Exit2NamesOption(string option, string value)
    {
        var (code, _, err) = Run("explain", Cat, "--model", Hf, "--out", Path.GetTempPath(), option, value);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain(option));
    }

    [Test]
    public void Explain_ColorBarAndClip_FigureGetsTallerForTheBar()
    {
        string plain = FixturePaths.NewTempFolder(), barred = FixturePaths.NewTempFolder();
        try
        {
            Assert.That(Run("explain", Cat, "--model", Hf, "--out", plain).Code, Is.EqualTo(0));
            var (code, _, err) = Run("explain", Cat, "--model", Hf, "--out", barred, "--colorbar", "--clip-percentile", "95");
            Assert.That(code, Is.EqualTo(0), err);
            using var a = SkiaSharp.SKBitmap.Decode(Path.Combine(plain, "chelsea.cls.png"));
            using var b = SkiaSharp.SKBitmap.Decode(Path.Combine(barred, "chelsea.cls.png"));
            Assert.That(b.Width * b.Height, Is.GreaterThan(a.Width * a.Height), "the colour bar adds space to the figure");
        }
        finally
        {
            Directory.Delete(plain, recursive: true);
            Directory.Delete(barred, recursive: true);
        }
    }

    [Test]
    public void UniqueStems_SameFileNameTwice_GetsSuffix() =>
        Assert.That(CliApp.UniqueStems(["a/cat.png", "b/cat.jpg", "dog.png"]), Is.EqualTo(new[] { "cat", "cat-2", "dog" }));

    [Test]
    public void BenchRollout_Json_HasDocumentedKeys()
    {
        var (code, stdout, err) = Run("bench", "rollout", "--num-layers", "2", "--num-heads", "3", "--num-tokens", "17", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(stdout);
        foreach (string key in new[] { "layers", "heads", "tokens", "fullMs", "rowMs", "floorMs", "scalarMs", "allocatedBytesPerCall" })
        {
            Assert.That(doc.RootElement.TryGetProperty(key, out _), key);
        }

        Assert.That(doc.RootElement.GetProperty("tokens").GetInt32(), Is.EqualTo(17));
        Assert.That(doc.RootElement.GetProperty("fullMs").GetDouble(), Is.GreaterThan(0));
    }
}
