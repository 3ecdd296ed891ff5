using System.Text.Json;
using SkiaSharp;
using VitAttention.Analysis;
using VitAttention.Hub;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rollout;

namespace VitAttention.Tests;

[NonParallelizable]
public class ExplainerTests
{
    private static readonly Dictionary<string, VitExplainer> Explainers = [];

    private static VitExplainer For(string fixture)
    {
        lock (Explainers)
        {
            if (!Explainers.TryGetValue(fixture, out var e))
            {
                e = VitExplainer.Load(FixturePaths.Folder(fixture));
                Explainers.Add(fixture, e);
            }

            return e;
        }
    }

    [OneTimeTearDown]
    public void DisposeExplainers()
    {
        foreach (var e in Explainers.Values)
        {
            e.Dispose();
        }

        Explainers.Clear();
    }

    private static (float[] Pixels, SafeTensorsFile Expected) Oracle(string fixture)
    {
        var expected = SafeTensorsFile.Open(FixturePaths.Expected(fixture));
        return (expected.ReadFloat32("pixel_values"), expected);
    }

    private static double[] Row(double[] all, int item, int length) => all.Skip(item * length).Take(length).ToArray();

    [TestCase("tiny-vit-hf")]
    [TestCase("tiny-vit-timm")]
    public void ExplainPixels_FixturePixels_LayerMapsAndRolloutMatchOracle(string fixture)
    {
        var (pixels, expected) = Oracle(fixture);
        using var _ = expected;
        var explanations = For(fixture).ExplainPixels(pixels);
        Assert.That(explanations, Has.Count.EqualTo(2));
        for (int b = 0; b < 2; b++)
        {
            using var e = explanations[b];
            Assert.That(e.Layers, Has.Count.EqualTo(3));
            for (int l = 0; l < 3; l++)
            {
                Assert.That(e.Layers[l].Layer, Is.EqualTo(l + 1));
                Assert.That(e.Layers[l].Map.Values.ToArray(), Is.EqualTo(Row(expected.ReadFloat64($"layer_cls_mean.{l}"), b, 16)).Within(1e-5),
                    $"layer {l + 1}, item {b}");
            }

            Assert.That(e.Rollout.Values.ToArray(), Is.EqualTo(Row(expected.ReadFloat64("rollout_mean_cls"), b, 16)).Within(1e-5), $"rollout, item {b}");
            Assert.That(e.Probabilities.ToArray(), Is.EqualTo(Row(expected.ReadFloat64("probabilities"), b, 5)).Within(1e-4));
        }
    }

    [TestCase(HeadFusion.Max, "rollout_max_cls")]
    [TestCase(HeadFusion.Min, "rollout_min_cls")]
    public void ExplainPixels_OtherHeadFusion_RolloutMatchesOracle(HeadFusion fusion, string tensor)
    {
        var (pixels, expected) = Oracle("tiny-vit-hf");
        using var _ = expected;
        var options = ExplainOptions.Default with { Rollout = RolloutOptions.Default with { Fusion = fusion } };
        var explanations = For("tiny-vit-hf").ExplainPixels(pixels, options);
        for (int b = 0; b < 2; b++)
        {
            using var e = explanations[b];
            Assert.That(e.Rollout.Values.ToArray(), Is.EqualTo(Row(expected.ReadFloat64(tensor), b, 16)).Within(1e-5));
        }
    }

    [Test]
    public void ToJson_FixturePixels_MapsEqualOracleAndShapeIsDocumented()
    {
        var (pixels, expected) = Oracle("tiny-vit-hf");
        using var _ = expected;
        using var e = For("tiny-vit-hf").ExplainPixels(pixels)[1];
        using var doc = JsonDocument.Parse(e.ToJson());
        var root = doc.RootElement;
        Assert.That(root.GetProperty("image").GetString(), Is.EqualTo("pixels[1]"));
        Assert.That(root.GetProperty("predictions").GetArrayLength(), Is.EqualTo(5));
        var layers = root.GetProperty("layers");
        Assert.That(layers.GetArrayLength(), Is.EqualTo(3));
        for (int l = 0; l < 3; l++)
        {
            Assert.That(layers[l].GetProperty("layer").GetInt32(), Is.EqualTo(l + 1));
            double[] map = layers[l].GetProperty("map").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.That(map, Is.EqualTo(Row(expected.ReadFloat64($"layer_cls_mean.{l}"), 1, 16)).Within(1e-5));
            Assert.That(layers[l].GetProperty("focus").GetDouble(), Is.EqualTo(e.Focus.Scores[l]));
        }

        double[] rollout = root.GetProperty("rollout").GetProperty("map").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.That(rollout, Is.EqualTo(Row(expected.ReadFloat64("rollout_mean_cls"), 1, 16)).Within(1e-5));
        Assert.That(root.GetProperty("focusedLayers").EnumerateArray().Select(v => v.GetInt32()), Is.EqualTo(e.FocusedLayers));
        Assert.That(root.GetProperty("model").GetProperty("grid").EnumerateArray().Select(v => v.GetInt32()), Is.EqualTo(new[] { 4, 4 }));
    }

    [Test]
    public void Explain_FixtureInputPng_TopClassesMatchReferenceOrder()
    {
        using var expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        double[] reference = Row(expected.ReadFloat64("probabilities"), 0, 5);
        using var e = For("tiny-vit-hf").Explain(Path.Combine(FixturePaths.HfFolder, "input.png"));
        int[] referenceOrder = Enumerable.Range(0, 5).OrderByDescending(i => reference[i]).ToArray();
        Assert.That(e.Predictions.Select(p => p.Index), Is.EqualTo(referenceOrder));
        // input.png through our preprocessing is within one uint8 step of the reference pixels, so probabilities agree closely.
        Assert.That(e.Predictions.Select(p => (double)p.Probability), Is.EqualTo(referenceOrder.Select(i => reference[i])).Within(2e-3));
        Assert.That(e.Predictions[0].Label, Is.EqualTo(e.Config.Labels[referenceOrder[0]]));
    }

    [Test]
    public void Explain_SharedAcrossEightThreads_EqualsSequentialResults()
    {
        var explainer = For("tiny-vit-hf");
        string[] images = ["chelsea.png", "coffee.png", "astronaut.png", "chelsea.jpg"];
        var sequential = images.Select(i =>
        {
            using var e = explainer.Explain(FixturePaths.Image(i));
            return (e.Rollout.ToArray(), e.Layers.SelectMany(l => l.Map.ToArray()).ToArray(), e.Probabilities.ToArray());
        }).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, k =>
        {
            int i = k % images.Length;
            using var e = explainer.Explain(FixturePaths.Image(images[i]));
            if (!e.Rollout.Values.SequenceEqual(sequential[i].Item1)
                || !e.Layers.SelectMany(l => l.Map.ToArray()).SequenceEqual(sequential[i].Item2)
                || !e.Probabilities.SequenceEqual(sequential[i].Item3))
            {
                failures.Add($"call {k} ({images[i]}) differed");
            }
        });
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void ExplainMany_ThreeImagesInBatchesOfTwo_EqualsOneAtATime()
    {
        string[] images = new[] { "chelsea.png", "coffee.png", "astronaut.png" }.Select(FixturePaths.Image).ToArray();
        using var batched = VitExplainer.Load(FixturePaths.HfFolder, ExplainerOptions.Default with { MaxBatchSize = 2 });
        var many = batched.ExplainMany(images).ToList();
        Assert.That(many.Select(e => e.Source), Is.EqualTo(images));
        for (int i = 0; i < images.Length; i++)
        {
            using var single = For("tiny-vit-hf").Explain(images[i]);
            using var fromBatch = many[i];
            Assert.That(fromBatch.Rollout.Values.ToArray(), Is.EqualTo(single.Rollout.Values.ToArray()).Within(1e-6));
            Assert.That(fromBatch.Source, Is.EqualTo(images[i]));
        }
    }

    [Test]
    public void SaveFigures_TwoPhotos_WritesFourPngsAndJsonEach()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            foreach (string image in new[] { "chelsea.png", "coffee.png" })
            {
                using var e = For("tiny-vit-hf").Explain(FixturePaths.Image(image));
                var paths = e.SaveFigures(dir);
                foreach (string png in new[] { paths.ClsOverlay, paths.Layers, paths.FocusedLayers, paths.Rollout })
                {
                    using var bitmap = SKBitmap.Decode(png);
                    Assert.That(bitmap, Is.Not.Null, png);
                    Assert.That(bitmap.Width, Is.GreaterThan(100));
                }

                using var doc = JsonDocument.Parse(File.ReadAllText(paths.Json));
                Assert.That(doc.RootElement.GetProperty("layers").GetArrayLength(), Is.EqualTo(3));
                Assert.That(Path.GetFileName(paths.ClsOverlay), Is.EqualTo(Path.GetFileNameWithoutExtension(image) + ".cls.png"));
            }

            Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(10), "no temporary files left behind");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Compare_TwoPhotos_PlacesFiguresSideBySide()
    {
        using var a = For("tiny-vit-hf").Explain(FixturePaths.Image("chelsea.png"));
        using var b = For("tiny-vit-hf").Explain(FixturePaths.Image("coffee.png"));
        using var left = a.DrawRollout();
        using var both = Explanation.Compare(a, b, FigureKind.Rollout);
        Assert.That(both.Width, Is.GreaterThan(left.Width * 3 / 2));
    }

    [Test]
    public void Explain_RegionOfInterest_FocusIsMassInsideRegion()
    {
        var explainer = For("tiny-vit-hf");
        using var photo = SKBitmap.Decode(FixturePaths.Image("chelsea.png"));
        var options = ExplainOptions.Default with { RegionOfInterest = RegionOfInterest.FromRectangle(0, 0, photo.Width / 2, photo.Height) };
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"), options);
        Assert.That(e.Focus.Measure, Is.EqualTo(FocusMeasure.RegionMass));
        // chelsea.png is 451 px wide and seen whole, so a grid cell is 112.75 px wide: the region x < 225 covers
        // column 0 fully, (225 − 112.75) / 112.75 of column 1, and nothing of columns 2 and 3; rows fully.
        for (int l = 0; l < 3; l++)
        {
            var map = e.Layers[l].Map;
            double inside = 0, total = 0;
            for (int r = 0; r < 4; r++)
            {
                for (int c = 0; c < 4; c++)
                {
                    double cover = c < 1 ? 1 : c == 1 ? (225 - 112.75) / 112.75 : 0;
                    inside += map[r, c] * cover;
                    total += map[r, c];
                }
            }

            Assert.That(e.Layers[l].Focus, Is.EqualTo(inside / total).Within(1e-6), $"layer {l + 1}");
        }
    }

    [Test]
    public void Explain_LayerThatDoesNotExist_SaysWhichLayersExist()
    {
        var ex = Assert.Throws<ArgumentException>(() => For("tiny-vit-hf").Explain(FixturePaths.Image("chelsea.png"), ExplainOptions.Default with { Layers = [1, 7] }));
        Assert.That(ex!.Message, Does.Contain("Layer 7").And.Contain("1 to 3"));
    }

    [Test]
    public void ExplainPixels_WrongLength_NamesExpectedSize()
    {
        var ex = Assert.Throws<ArgumentException>(() => For("tiny-vit-hf").ExplainPixels(new float[100]));
        Assert.That(ex!.Message, Does.Contain("3×32×32").And.Contain("3072"));
    }

    [Test]
    public void Load_NeitherPathNorHubId_SaysWhatIsAccepted()
    {
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load("no such model here"));
        Assert.That(ex!.Message, Does.Contain("no such model here").And.Contain("owner/name"));
    }

    [Test]
    public void Load_EmptyFolder_SaysWhatFilesAreExpected()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(dir));
            Assert.That(ex!.Message, Does.Contain(dir).And.Contain("config.json").And.Contain("model.onnx"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Load_HubIdOfflineWithColdCache_SaysOfflineModeIsOn()
    {
        string cache = FixturePaths.NewTempFolder();
        try
        {
            var options = new ModelLoadOptions { Hub = new HubOptions { CacheDirectory = cache, Offline = true, Endpoint = "http://127.0.0.1:9" } };
            var ex = Assert.Throws<ModelHubException>(() => ModelLoader.Load("someone/vit-model", options));
            Assert.That(ex!.Message, Does.Contain("HF_HUB_OFFLINE").Or.Contain("offline"));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Test]
    public void Load_FixtureOnnxFile_ExplainsLikeTheCheckpointFolder()
    {
        var (pixels, expected) = Oracle("tiny-vit-hf");
        using var _ = expected;
        using var fromOnnx = VitExplainer.Load(Path.Combine(FixturePaths.HfFolder, "model_logits_only.onnx"));
        using var e = fromOnnx.ExplainPixels(pixels)[0];
        Assert.That(e.Rollout.Values.ToArray(), Is.EqualTo(Row(expected.ReadFloat64("rollout_mean_cls"), 0, 16)).Within(1e-5));
        Assert.That(e.Predictions[0].Label, Is.EqualTo(fromOnnx.Config.Labels[e.Predictions[0].Index]));
    }

    [Test]
    public void Explain_ModelWithoutClassifier_GivesMapsButNoPredictions()
    {
        var config = new VitConfig
        {
            ImageHeight = 32, ImageWidth = 48, PatchSize = 8, HiddenSize = 24, NumLayers = 2, NumHeads = 3,
            IntermediateSize = 48, NumClasses = 0,
        };
        var prepared = new PreparedModel(config, VitOnnxBuilder.Build(config, VitWeights.Random(config, seed: 5)), VitOnnxBuilder.InputName, "dino-like");
        using var explainer = new VitExplainer(prepared);
        using var e = explainer.Explain(FixturePaths.Image("coffee.png"));
        Assert.That(e.Predictions, Is.Empty);
        Assert.That(e.Probabilities.Length, Is.EqualTo(0));
        Assert.That(e.Layers, Has.Count.EqualTo(2));
        Assert.That((e.Rollout.Height, e.Rollout.Width), Is.EqualTo((4, 6)));
        Assert.That(e.Rollout.Values.ToArray().Sum() + e.RolloutRow[0], Is.EqualTo(1f).Within(1e-4), "the CLS rollout row sums to 1");
        using var doc = JsonDocument.Parse(e.ToJson());
        Assert.That(doc.RootElement.GetProperty("predictions").GetArrayLength(), Is.EqualTo(0));
        var ex = Assert.Throws<ModelFormatException>(() => explainer.Classify(FixturePaths.Image("coffee.png")));
        Assert.That(ex!.Message, Does.Contain("dino-like").And.Contain("no classifier"));
    }
}
