using System.Text.Json;
using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Tests.Rollout;

namespace VitAttention.Tests;

/// <summary>
/// What a user sees at the front door: classification fetches logits only, layer numbers are one-based everywhere
/// (rollout range included), a query token other than CLS is never called CLS, and the JSON records the settings.
/// </summary>
[NonParallelizable]
public sealed class ExplainerFrontDoorTests
{
    private VitExplainer _explainer = null!;

    [OneTimeSetUp]
    public void Load() => _explainer = VitExplainer.Load(FixturePaths.HfFolder);

    [OneTimeTearDown]
    public void Unload() => _explainer.Dispose();

    private static string Cat => FixturePaths.Image("chelsea.png");

    [Test]
    public void Classify_ManyTokenModel_AllocatesNoAttentionStack()
    {
        var config = TestModels.ManyTokens;
        using var explainer = TestModels.Explainer(config);
        using var photo = new SKBitmap(64, 64);
        photo.Erase(new SKColor(120, 40, 200));
        explainer.Classify(photo); // warm-up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var top = explainer.Classify(photo, topK: 3);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        TestContext.Out.WriteLine($"Classify allocated {allocated / 1024.0:F0} KiB; one attention stack is {TestModels.StackBytes(config) / 1024.0:F0} KiB");
        Assert.That(allocated, Is.LessThan(TestModels.StackBytes(config) / 4), "only the logits are fetched");
        using var explained = explainer.Explain(photo, ExplainOptions.Default with { TopK = 3 });
        Assert.That(top.Select(p => p.Index), Is.EqualTo(explained.Predictions.Select(p => p.Index)));
        Assert.That(top.Select(p => p.Probability), Is.EqualTo(explained.Predictions.Select(p => p.Probability)).Within(1e-6));
    }

    [Test]
    public void Explain_RolloutOfTheLastLayerOnly_IsThatLayersResidualRowOneBased()
    {
        int layers = _explainer.Config.NumLayers;
        var options = ExplainOptions.Default with
        {
            KeepAttentions = true,
            Rollout = RolloutOptions.Default with { FirstLayer = layers, LastLayer = layers, ResidualAlpha = 0.7f },
        };
        using var e = _explainer.Explain(Cat, options);
        var stack = e.Attentions!;
        // Oracle: Ã of the stack's last layer (zero-based index L − 1), row 0, in float64.
        double[] reference = RolloutReference.Layer(stack.Data.ToArray(), stack.Shape, layers - 1, 0,
            options.Rollout with { PrefixTokens = e.Config.PrefixTokens });
        double[] row = reference[..stack.Shape.Tokens];
        Assert.That(e.RolloutRow.ToArray(), Is.EqualTo(row).Within(1e-5));

        var bad = Assert.Throws<ArgumentException>(() => _explainer.Explain(Cat, ExplainOptions.Default with { Rollout = RolloutOptions.Default with { FirstLayer = 0 } }));
        Assert.That(bad!.Message, Does.Contain("FirstLayer").And.Contain("one-based"));
    }

    [Test]
    public void ToJson_RecordsQueryTokenResidualAlphaLayerRangeAndFusion()
    {
        var options = ExplainOptions.Default with
        {
            Rollout = RolloutOptions.Default with { Fusion = HeadFusion.Max, ResidualAlpha = 0.25f, FirstLayer = 2 },
        };
        using var e = _explainer.Explain(Cat, options);
        using var doc = JsonDocument.Parse(e.ToJson());
        var root = doc.RootElement;
        Assert.That(root.GetProperty("queryToken").GetInt32(), Is.EqualTo(0));
        Assert.That(root.GetProperty("query").GetString(), Is.EqualTo("class token"));
        var rollout = root.GetProperty("rollout");
        Assert.That(rollout.GetProperty("headFusion").GetString(), Is.EqualTo("max"));
        Assert.That(rollout.GetProperty("residualAlpha").GetSingle(), Is.EqualTo(0.25f));
        Assert.That(rollout.GetProperty("firstLayer").GetInt32(), Is.EqualTo(2));
        Assert.That(rollout.GetProperty("lastLayer").GetInt32(), Is.EqualTo(3));
        Assert.That(rollout.GetProperty("map").GetArrayLength(), Is.EqualTo(16));
        Assert.That(root.GetProperty("layers")[0].GetProperty("layer").GetInt32(), Is.EqualTo(1));
    }

    [Test]
    public void Explain_QueryTokenOtherThanCls_NothingIsCalledCls()
    {
        var options = ExplainOptions.Default with { Rollout = RolloutOptions.Default with { QueryToken = 5 } };
        using var e = _explainer.Explain(Cat, options);
        string json = e.ToJson();
        Assert.That(json, Does.Not.Contain("cls").IgnoreCase.And.Not.Contain("class token").IgnoreCase);
        using var doc = JsonDocument.Parse(json);
        Assert.That(doc.RootElement.GetProperty("query").GetString(), Is.EqualTo("token 5"));
        Assert.That(doc.RootElement.GetProperty("queryToken").GetInt32(), Is.EqualTo(5));

        // The figure is titled for token 5: it differs from the CLS figure's title band even where the maps agree.
        using var cls = _explainer.Explain(Cat);
        using var clsOverlay = cls.DrawClsOverlay();
        using var tokenOverlay = e.DrawClsOverlay();
        var withTitle = e.Options.Figure with { Title = "Class Token Attention Overlay" };
        using var retitled = _explainer.Explain(Cat, options with { Figure = withTitle });
        using var retitledOverlay = retitled.DrawClsOverlay();
        Assert.That(Pixels(tokenOverlay), Is.Not.EqualTo(Pixels(retitledOverlay)), "the default title for token 5 is not the CLS title");

        // The maps are token 5's row: compare with the engine on the kept stack.
        using var kept = _explainer.Explain(Cat, options with { KeepAttentions = true });
        var config = kept.Config;
        var expected = new RolloutEngine().LayerMap(kept.Attentions!, 2, 0, config.GridHeight, config.GridWidth, 5, null, config.PrefixTokens);
        Assert.That(kept.LayerMap(3).Values.ToArray(), Is.EqualTo(expected.Values.ToArray()));
    }

    [Test]
    public void AllowSpinningOff_AddsOrtsNoSpinEntriesAndGivesTheSameResults()
    {
        Assert.That(VitSession.ConfigEntries(VitSessionOptions.Default), Is.Empty);
        Assert.That(VitSession.ConfigEntries(VitSessionOptions.Default with { AllowSpinning = false }),
            Is.EquivalentTo(new[] { ("session.intra_op.allow_spinning", "0"), ("session.inter_op.allow_spinning", "0") }));
        using var quiet = VitExplainer.Load(FixturePaths.HfFolder, ExplainerOptions.Default with { Session = VitSessionOptions.Default with { AllowSpinning = false } });
        using var a = quiet.Explain(Cat);
        using var b = _explainer.Explain(Cat);
        Assert.That(a.Rollout.ToArray(), Is.EqualTo(b.Rollout.ToArray()));
    }

    [Test]
    public void UseMemoryPatternOff_SessionPlansNoPatternAndGivesTheSameResults()
    {
        using (var on = VitSession.BaseOptions(VitSessionOptions.Default))
        using (var off = VitSession.BaseOptions(VitSessionOptions.Default with { UseMemoryPattern = false }))
        {
            Assert.That(on.EnableMemoryPattern, Is.True);
            Assert.That(off.EnableMemoryPattern, Is.False);
        }

        using var unplanned = VitExplainer.Load(FixturePaths.HfFolder, ExplainerOptions.Default with { Session = VitSessionOptions.Default with { UseMemoryPattern = false } });
        using var a = unplanned.Explain(Cat);
        using var b = _explainer.Explain(Cat);
        Assert.That(a.Predictions.Select(p => p.Probability), Is.EqualTo(b.Predictions.Select(p => p.Probability)));
        Assert.That(a.Rollout.ToArray(), Is.EqualTo(b.Rollout.ToArray()));
    }

    private static byte[] Pixels(SKImage image)
    {
        using var bitmap = SKBitmap.FromImage(image);
        return bitmap.Bytes;
    }
}
