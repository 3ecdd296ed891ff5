using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Onnx;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// Seeded mutation fuzzing of every file the library reads, starting from the fixtures and sample photos. The quick
/// subset runs in CI; <c>VITATTENTION_FUZZ_CASES=10000</c> is the long mode (docs/reliability.md). Each case goes
/// through the real entry point and must end in success or a documented exception that names the input.
/// </summary>
[TestFixture]
[Category("Fuzz")]
public sealed class FuzzTests
{
    private static string Hf => FixturePaths.HfFolder;

    private static string Timm => FixturePaths.TimmFolder;

    [Test]
    public void Fuzz_SafeTensors_OnlyDocumentedExceptions()
    {
        byte[][] seeds =
        [
            File.ReadAllBytes(Path.Combine(Hf, "model.safetensors")),
            File.ReadAllBytes(Path.Combine(Timm, "model.safetensors")),
            File.ReadAllBytes(FixturePaths.Expected("tiny-vit-hf")),
            SmallMixedDtypes(),
        ];
        var harness = new FuzzHarness(FuzzFormat.SafeTensors);
        harness.Run(
            FuzzHarness.Cases(400),
            seed => Mutator.Mutate(FuzzFormat.SafeTensors, seeds[new Random(~seed).Next(seeds.Length)], seeds, seed),
            (input, name) =>
            {
                using var file = SafeTensorsFile.FromBytes(input.Bytes, name);
                foreach (string tensor in file.Tensors.Keys)
                {
                    float[] values = file.ReadFloat32(tensor);
                    Assert.That(values, Has.Length.EqualTo(file.Tensors[tensor].ElementCount));
                }
            },
            nameof(Fuzz_SafeTensors_OnlyDocumentedExceptions));
        Assert.That(harness.Outcomes.Keys, Does.Contain("ModelFormatException"), "the mutations never reached the validation");
        harness.AssertNoFailures();
    }

    [Test]
    public void Fuzz_ConfigJson_OnlyDocumentedExceptions()
    {
        byte[][] seeds = [File.ReadAllBytes(Path.Combine(Hf, "config.json")), File.ReadAllBytes(Path.Combine(Timm, "config.json"))];
        byte[] preprocessor = File.ReadAllBytes(Path.Combine(Hf, "preprocessor_config.json"));
        byte[] photo = File.ReadAllBytes(Path.Combine(Hf, "input.png"));
        var harness = new FuzzHarness(FuzzFormat.ConfigJson);
        harness.Run(
            FuzzHarness.Cases(300),
            seed =>
            {
                int which = new Random(~seed).Next(seeds.Length);
                var m = Mutator.Mutate(FuzzFormat.ConfigJson, seeds[which], seeds, seed);
                return m with { Steps = [$"from {(which == 0 ? "hf" : "timm")} config.json", .. m.Steps] };
            },
            (input, name) => WithFolder(name, input.Bytes, input.Steps[0].Contains("hf", StringComparison.Ordinal) ? preprocessor : null, photo),
            nameof(Fuzz_ConfigJson_OnlyDocumentedExceptions));
        Assert.That(harness.Outcomes.Keys, Does.Contain("ModelFormatException"));
        harness.AssertNoFailures();
    }

    [Test]
    public void Fuzz_PreprocessorConfigJson_OnlyDocumentedExceptions()
    {
        byte[] config = File.ReadAllBytes(Path.Combine(Hf, "config.json"));
        byte[][] seeds = [File.ReadAllBytes(Path.Combine(Hf, "preprocessor_config.json"))];
        byte[] photo = File.ReadAllBytes(Path.Combine(Hf, "input.png"));
        var harness = new FuzzHarness(FuzzFormat.PreprocessorJson);
        harness.Run(
            FuzzHarness.Cases(200),
            seed => Mutator.Mutate(FuzzFormat.PreprocessorJson, seeds[0], seeds, seed),
            (input, name) => WithFolder(name, config, input.Bytes, photo),
            nameof(Fuzz_PreprocessorConfigJson_OnlyDocumentedExceptions));
        Assert.That(harness.Outcomes.Keys, Does.Contain("ModelFormatException"));
        harness.AssertNoFailures();
    }

    [Test]
    public void Fuzz_Onnx_OnlyDocumentedExceptions()
    {
        byte[][] seeds =
        [
            File.ReadAllBytes(Path.Combine(Hf, "model_logits_only.onnx")),
            File.ReadAllBytes(Path.Combine(Timm, "model_logits_only.onnx")),
        ];
        byte[] config = File.ReadAllBytes(Path.Combine(Hf, "config.json"));
        var harness = new FuzzHarness(FuzzFormat.Onnx);
        harness.Run(
            FuzzHarness.Cases(40),
            seed => MutateOnnx(seeds, seed),
            (input, name) =>
            {
                if (input.Steps[0].EndsWith("via file", StringComparison.Ordinal))
                {
                    string folder = FixturePaths.NewTempFolder();
                    try
                    {
                        string path = Path.Combine(folder, name + ".onnx");
                        File.WriteAllBytes(path, input.Bytes);
                        File.WriteAllBytes(Path.Combine(folder, "config.json"), config);
                        var prepared = OnnxModelLoader.PrepareOnnx(path, _ => { });
                        using var session = new VitSession(prepared);
                    }
                    finally
                    {
                        Directory.Delete(folder, true);
                    }
                }
                else if (input.Steps[0].EndsWith("sizes from graph", StringComparison.Ordinal))
                {
                    AttentionExposer.Expose(input.Bytes, name + ".onnx");
                }
                else
                {
                    AttentionExposer.Expose(input.Bytes, name + ".onnx", new ExposeOptions { ImageHeight = 32, ImageWidth = 32 });
                }
            },
            nameof(Fuzz_Onnx_OnlyDocumentedExceptions));
        Assert.That(harness.Outcomes.Keys, Does.Contain("ModelFormatException"));
        harness.AssertNoFailures();
    }

    [Test]
    public void Fuzz_ImageBytes_OnlyDocumentedExceptions()
    {
        string root = TestContext.CurrentContext.TestDirectory;
        byte[][] seeds = Directory.GetFiles(Path.Combine(root, "Images"))
            .Concat(Directory.GetFiles(Path.Combine(root, "Inference", "Images")))
            .Append(Path.Combine(Hf, "input.png"))
            .Where(p => p.EndsWith(".png", StringComparison.Ordinal) || p.EndsWith(".jpg", StringComparison.Ordinal))
            .Where(p => !p.EndsWith(".expected.png", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes)
            .ToArray();
        Assert.That(seeds, Has.Length.GreaterThan(10));
        var preprocessor = new ImagePreprocessor(VitConfigLoader.FromFolder(Hf));
        var harness = new FuzzHarness(FuzzFormat.Image);
        harness.Run(
            FuzzHarness.Cases(150),
            seed =>
            {
                int which = new Random(~seed).Next(seeds.Length);
                var m = Mutator.Mutate(FuzzFormat.Image, seeds[which], seeds, seed);
                return m with { Steps = [$"from image {which}", .. m.Steps] };
            },
            (input, name) =>
            {
                using var image = preprocessor.Preprocess(input.Bytes, name);
                Assert.That(image.Pixels, Has.Length.EqualTo(preprocessor.InputLength));
                Assert.That(image.Pixels.All(float.IsFinite), Is.True);
            },
            nameof(Fuzz_ImageBytes_OnlyDocumentedExceptions));
        Assert.That(harness.Outcomes.Keys, Does.Contain("InvalidImageException"));
        Assert.That(harness.Outcomes.Keys, Does.Contain("success"));
        harness.AssertNoFailures();
    }

    [Test]
    public void Mutate_SameSeed_SameBytesAndSteps()
    {
        byte[] seed = File.ReadAllBytes(Path.Combine(Hf, "model.safetensors"));
        var a = Mutator.Mutate(FuzzFormat.SafeTensors, seed, [seed], 7);
        var b = Mutator.Mutate(FuzzFormat.SafeTensors, seed, [seed], 7);
        var c = Mutator.Mutate(FuzzFormat.SafeTensors, seed, [seed], 8);
        Assert.That(a.Bytes, Is.EqualTo(b.Bytes));
        Assert.That(a.Steps, Is.EqualTo(b.Steps));
        Assert.That(c.Describe(), Is.Not.EqualTo(a.Describe()));
    }

    /// <summary>Structured graph edits (most cases), sometimes followed by byte edits, or byte edits alone.</summary>
    private static Mutated MutateOnnx(byte[][] seeds, int seed)
    {
        var rng = new Random(seed);
        int which = rng.Next(seeds.Length);
        int mode = rng.Next(4);
        var steps = new List<string> { $"from onnx {which}{mode switch { 0 => " via file", 1 => " sizes from graph", _ => "" }}" };
        byte[] bytes;
        if (rng.Next(100) < 70)
        {
            bytes = OnnxMutator.Mutate(seeds[which], rng, steps);
            if (rng.Next(5) == 0)
            {
                var data = new List<byte>(bytes);
                steps.Add(Mutator.ByteEdit(data, seeds, rng));
                bytes = [.. data];
            }
        }
        else
        {
            var m = Mutator.Mutate(FuzzFormat.Onnx, seeds[which], seeds, seed);
            steps.AddRange(m.Steps);
            bytes = m.Bytes;
        }

        return new Mutated(bytes, steps);
    }

    /// <summary>Writes a model folder named after the case, loads its config and preprocesses a photo with it.</summary>
    private static void WithFolder(string name, byte[] config, byte[]? preprocessor, byte[] photo)
    {
        string folder = Path.Combine(Path.GetTempPath(), name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        try
        {
            File.WriteAllBytes(Path.Combine(folder, VitConfigLoader.ConfigFile), config);
            if (preprocessor is not null)
            {
                File.WriteAllBytes(Path.Combine(folder, VitConfigLoader.PreprocessorFile), preprocessor);
            }

            VitConfig loaded = VitConfigLoader.FromFolder(folder);

            // A config that loads must describe a model whose input can be built without exhausting memory.
            using var image = new ImagePreprocessor(loaded).Preprocess(photo, name + ".png");
            Assert.That(image.Pixels, Has.Length.EqualTo(loaded.Channels * loaded.ImageHeight * loaded.ImageWidth));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    /// <summary>A small file with F16, BF16 and F64 tensors so the fuzzer reaches every conversion path.</summary>
    private static byte[] SmallMixedDtypes()
    {
        var rng = new Random(5);
        var header = new System.Text.StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        var data = new List<byte>();
        foreach (var (name, dtype, size) in new[] { ("a", "F16", 2), ("b", "BF16", 2), ("c", "F64", 8), ("d", "F32", 4) })
        {
            int count = 6;
            var bytes = new byte[count * size];
            rng.NextBytes(bytes);
            header.Append($",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[2,3],\"data_offsets\":[{data.Count},{data.Count + bytes.Length}]}}");
            data.AddRange(bytes);
        }

        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.Append('}').ToString());
        var file = new byte[8 + json.Length + data.Count];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        data.CopyTo(file, 8 + json.Length);
        return file;
    }
}
