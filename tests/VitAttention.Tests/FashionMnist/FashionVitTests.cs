using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using VitAttention.Inference;
using VitAttention.Loading;

namespace VitAttention.Tests.FashionMnist;

/// <summary>
/// The trained model shipped in models/fashion-vit, run through the library on real data (the Fashion-MNIST test split
/// from the Debian package dataset-fashion-mnist): the same logits, top-1 and accuracy as PyTorch, and rollout maps that
/// point at the evidence the model uses. The PyTorch side is models/train_demo_model.py, which wrote the reference files.
/// </summary>
[NonParallelizable]
public partial class FashionVitTests
{
    private VitExplainer _explainer = null!;

    private static string ModelFolder => Path.Combine(TestContext.CurrentContext.TestDirectory, "FashionVit");

    [OneTimeSetUp]
    public void LoadModel() => _explainer = VitExplainer.Load(ModelFolder);

    [OneTimeTearDown]
    public void DisposeModel() => _explainer.Dispose();

    [Test]
    public void Load_FashionVit_HasTheTrainedLayoutAndLabels()
    {
        var c = _explainer.Config;
        Assert.That((c.ImageHeight, c.ImageWidth, c.PatchSize, c.GridHeight, c.GridWidth), Is.EqualTo((28, 28, 4, 7, 7)));
        Assert.That((c.Channels, c.PrefixTokens, c.Tokens, c.NumClasses), Is.EqualTo((3, 1, 50, 10)));
        Assert.That(c.Labels, Is.EqualTo(new[]
        {
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        }));
        Assert.That(c.Preprocess.CropPct, Is.Null, "HF preprocessing: a plain resize, no crop");
    }

    [Test]
    public void Preprocess_GreyTestPng_EqualsRawPixelsNormalisedInEveryChannel()
    {
        var data = FashionMnistTestSet.Load();
        var pre = new ImagePreprocessor(_explainer.Config);
        var p = _explainer.Config.Preprocess;
        for (int i = 0; i < 20; i++)
        {
            using var image = pre.Preprocess(data.Png(i), $"test {i}");
            var raw = data.Pixels(i);
            var expected = new double[3 * raw.Length]; // [channel, 28, 28]: the grey value in each of R, G, B
            for (int ch = 0; ch < 3; ch++)
            {
                for (int k = 0; k < raw.Length; k++)
                {
                    expected[(ch * raw.Length) + k] = ((raw[k] / 255.0) - p.Mean[ch]) / p.Std[ch];
                }
            }

            NumericAssert.Close(image.Pixels, expected, 1e-5, $"test image {i}");
        }
    }

    [Test]
    public void Run_FirstThousandTestImages_LogitsMatchPyTorch()
    {
        var data = FashionMnistTestSet.Load();
        float[] reference = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(ModelFolder, "reference", "test-logits-first1000.f32"))).ToArray();
        Assert.That(reference, Has.Length.EqualTo(1000 * 10));
        var pre = new ImagePreprocessor(_explainer.Config);
        using var session = new VitSession(ModelLoader.Load(ModelFolder));
        const int batch = 100;
        double worst = 0;
        for (int start = 0; start < 1000; start += batch)
        {
            var pixels = new float[batch * session.InputLength]; // [batch, 3, 28, 28]
            for (int i = 0; i < batch; i++)
            {
                using var image = pre.Preprocess(data.Png(start + i), $"test {start + i}");
                image.Pixels.CopyTo(pixels.AsSpan(i * session.InputLength));
            }

            var output = session.Run(pixels, batch);
            for (int i = 0; i < batch; i++)
            {
                var logits = output.LogitsOf(i);
                for (int k = 0; k < 10; k++)
                {
                    worst = Math.Max(worst, Math.Abs(logits[k] - reference[((start + i) * 10) + k]));
                }
            }
        }

        TestContext.Out.WriteLine($"max |logit difference| over the first 1,000 test images, library vs PyTorch: {worst:E2}");
        Assert.That(worst, Is.LessThan(1e-4));
    }

    [Test]
    public void Explain_AllTenThousandTestImages_SameAccuracyAndTop1AsPyTorch()
    {
        var data = FashionMnistTestSet.Load();
        byte[] pyTorchTop1 = File.ReadAllBytes(Path.Combine(ModelFolder, "reference", "test-top1.u8"));
        Assert.That(pyTorchTop1, Has.Length.EqualTo(data.Count));
        int pyTorchCorrect = Enumerable.Range(0, data.Count).Count(i => pyTorchTop1[i] == data.Labels[i]);
        using (var training = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelFolder, "training.json"))))
        {
            Assert.That(pyTorchCorrect, Is.EqualTo(training.RootElement.GetProperty("test_correct").GetInt32()),
                "the reference file is the one training.json describes");
        }

        var clock = Stopwatch.StartNew();
        int correct = 0, agree = 0;
        // The user's path: encoded grey PNGs, decoded to RGB and preprocessed by the library, explained in batches.
        var images = Enumerable.Range(0, data.Count).Select(i => ImageInput.FromBytes(data.Png(i), $"test {i}"));
        int i = 0;
        foreach (var e in _explainer.ExplainMany(images))
        {
            using (e)
            {
                int top1 = e.Predictions[0].Index;
                correct += top1 == data.Labels[i] ? 1 : 0;
                agree += top1 == pyTorchTop1[i] ? 1 : 0;
                i++;
            }
        }

        Assert.That(i, Is.EqualTo(data.Count), "one explanation per image");

        double accuracy = correct / (double)data.Count, pyTorchAccuracy = pyTorchCorrect / (double)data.Count;
        TestContext.Out.WriteLine(
            $"library accuracy {accuracy:P2} ({correct}/{data.Count}), PyTorch {pyTorchAccuracy:P2} ({pyTorchCorrect}), " +
            $"top-1 agreement {agree}/{data.Count}, {clock.Elapsed.TotalSeconds:F1} s");
        Assert.That(Math.Abs(accuracy - pyTorchAccuracy), Is.LessThanOrEqualTo(0.001), "accuracy within 0.1 percentage point of PyTorch's");
        Assert.That(agree / (double)data.Count, Is.GreaterThanOrEqualTo(0.999), "same top-1 as PyTorch on at least 99.9% of images");
        Assert.That(accuracy, Is.GreaterThanOrEqualTo(0.89));
    }

    [Test]
    public void ShippedImages_OnePerClass_AreTheTestImagesTheirNamesSay()
    {
        var data = FashionMnistTestSet.Load();
        var labels = _explainer.Config.Labels;
        var pre = new ImagePreprocessor(_explainer.Config);
        string[] files = Directory.GetFiles(Path.Combine(ModelFolder, "images"), "*.png").Select(Path.GetFileName).Order().ToArray()!;
        Assert.That(files, Has.Length.EqualTo(10));
        var classes = new HashSet<int>();
        foreach (string file in files)
        {
            var match = ImageName().Match(file);
            Assert.That(match.Success, file);
            int index = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            int label = data.Labels[index];
            Assert.That(match.Groups[2].Value, Is.EqualTo(Slug(labels[label])), file);
            Assert.That(Enumerable.Range(0, index).All(i => data.Labels[i] != label), $"{file} is the first test image of its class");
            classes.Add(label);

            using var photo = pre.Decode(Path.Combine(ModelFolder, "images", file));
            Assert.That((photo.Width, photo.Height), Is.EqualTo((28, 28)));
            var rgba = photo.GetPixelSpan();
            var raw = data.Pixels(index);
            for (int k = 0; k < raw.Length; k++)
            {
                Assert.That((rgba[4 * k], rgba[(4 * k) + 1], rgba[(4 * k) + 2]), Is.EqualTo((raw[k], raw[k], raw[k])), $"{file} pixel {k}");
            }
        }

        Assert.That(classes, Has.Count.EqualTo(10));
    }

    private static string Slug(string label) => label.ToLowerInvariant().Replace('/', '-').Replace(' ', '-');

    [GeneratedRegex(@"^(\d{4})-([a-z-]+)\.png$")]
    private static partial Regex ImageName();
}
