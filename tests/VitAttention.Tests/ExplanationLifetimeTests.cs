using System.Reflection;
using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rendering;
using VitAttention.Rollout;
using VitAttention.Tests.Reliability;

namespace VitAttention.Tests;

/// <summary>
/// An explanation holds only its own image's results, frees them on Dispose, and refuses every use afterwards with
/// <see cref="ObjectDisposedException"/> (before: SIGSEGV in Skia, or the whole batch's attention kept alive).
/// </summary>
[NonParallelizable] // measures the managed heap
public sealed class ExplanationLifetimeTests
{
    private VitExplainer _explainer = null!;

    [OneTimeSetUp]
    public void Load() => _explainer = VitExplainer.Load(FixturePaths.HfFolder);

    [OneTimeTearDown]
    public void Unload() => _explainer.Dispose();

    private static string Cat => FixturePaths.Image("chelsea.png");

    [Test]
    public void Explanation_EveryPublicMemberAfterDispose_ThrowsObjectDisposed()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            var e = _explainer.Explain(Cat);
            e.Dispose();
            e.Dispose(); // a second Dispose is harmless
            var checkedMembers = new List<string>();
            foreach (PropertyInfo p in typeof(Explanation).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => !p.PropertyType.IsByRefLike))
            {
                var ex = Assert.Throws<TargetInvocationException>(() => p.GetValue(e), p.Name);
                Assert.That(ex!.InnerException, Is.InstanceOf<ObjectDisposedException>(), p.Name);
                checkedMembers.Add(p.Name);
            }

            foreach (MethodInfo m in typeof(Explanation).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                .Where(m => !m.IsSpecialName && m.Name != nameof(Explanation.Dispose)))
            {
                object?[] args = [.. m.GetParameters().Select(p => ArgumentFor(p, folder))];
                var ex = Assert.Throws<TargetInvocationException>(() => m.Invoke(e, args), m.Name);
                Assert.That(ex!.InnerException, Is.InstanceOf<ObjectDisposedException>(), m.Name);
                checkedMembers.Add(m.Name);
            }

            // Span properties cannot go through reflection.
            Assert.Throws<ObjectDisposedException>(() => _ = e.Probabilities.Length);
            Assert.Throws<ObjectDisposedException>(() => _ = e.RolloutRow.Length);
            Assert.That(checkedMembers, Is.SupersetOf(new[]
            {
                "Photo", "Layers", "Rollout", "Predictions", "Attentions", "DrawRollout", "DrawClsOverlay", "DrawLayers", "DrawHeadGrid",
                "DrawLayerGrid", "DrawFocusedLayers", "Draw", "SaveFigures", "ToJson", "WriteJson", "LayerMap",
            }));
            Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty, "nothing was written after Dispose");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Compare_OneExplanationDisposed_ThrowsObjectDisposed()
    {
        using var alive = _explainer.Explain(Cat);
        var gone = _explainer.Explain(Cat);
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Explanation.Compare(alive, gone, FigureKind.Rollout).Dispose());
        Assert.Throws<ObjectDisposedException>(() => Explanation.Compare(gone, alive, FigureKind.Layers).Dispose());
    }

    [Test]
    public void Explain_DisposedBitmap_ThrowsObjectDisposedInsteadOfCrashing()
    {
        var bitmap = SKBitmap.Decode(Cat);
        bitmap.Dispose();
        var ex = Assert.Throws<ObjectDisposedException>(() => _explainer.Explain(bitmap));
        Assert.That(ex!.Message, Does.Contain("disposed"));
        Assert.ThrowsAsync<ObjectDisposedException>(() => _explainer.ExplainAsync(bitmap));
        Assert.Throws<ObjectDisposedException>(() => _explainer.Classify(bitmap));
    }

    [Test]
    public void Rendering_DisposedPhotoOrImage_ThrowsObjectDisposed()
    {
        using var e = _explainer.Explain(Cat);
        var photo = e.Photo.Copy();
        photo.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Figures.RolloutOverlay(photo, e.SeenRegion, e.Rollout).Dispose());
        Assert.Throws<ObjectDisposedException>(() => Overlay.Render(photo, e.SeenRegion, e.Rollout).Dispose());
        Assert.Throws<ObjectDisposedException>(() => VitAttention.Analysis.RegionOfInterest.FromMask(photo));
        var image = e.DrawRollout();
        image.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Figures.EncodePng(image));
        Assert.Throws<ObjectDisposedException>(() => Figures.SideBySide(image, "a", image, "b").Dispose());
    }

    [Test]
    public void Explainer_AfterDispose_EveryCallThrowsObjectDisposed()
    {
        var explainer = VitExplainer.Load(FixturePaths.HfFolder);
        explainer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => explainer.Explain(Cat));
        Assert.Throws<ObjectDisposedException>(() => explainer.Classify(Cat));
        Assert.Throws<ObjectDisposedException>(() => explainer.ExplainMany([Cat]));
        Assert.ThrowsAsync<ObjectDisposedException>(() => explainer.ExplainAsync(Cat));
    }

    [Test]
    public void Explain_Default_KeepsNoAttentionStack()
    {
        using var e = _explainer.Explain(Cat);
        Assert.That(e.Attentions, Is.Null);
        var ex = Assert.Throws<InvalidOperationException>(() => e.RequireAttentions());
        Assert.That(ex!.Message, Does.Contain("KeepAttentions"));
    }

    [Test]
    public void ExplainPixels_KeepAttentions_EachHoldsItsOwnSliceOfTheBatch()
    {
        using var explainer = TestModels.Explainer(TestModels.ManyTokens, ExplainerOptions.Default with { MaxBatchSize = 3 });
        float[] pixels = RandomPixels(3 * 3 * 64 * 64, seed: 7);
        var options = ExplainOptions.Default with { KeepAttentions = true };
        var batched = explainer.ExplainPixels(pixels, options);
        try
        {
            var config = TestModels.ManyTokens;
            for (int i = 0; i < 3; i++)
            {
                AttentionStack own = batched[i].Attentions!;
                Assert.That(own.Shape, Is.EqualTo(new AttentionShape(config.NumLayers, 1, config.NumHeads, config.Tokens)));

                // Oracle 1: the same image alone (a batch of one) gives the same stack.
                using var alone = explainer.ExplainPixels(pixels.AsSpan(i * 3 * 64 * 64, 3 * 64 * 64), options)[0];
                Assert.That(own.Data.ToArray(), Is.EqualTo(alone.Attentions!.Data.ToArray()).Within(1e-5), $"image {i}");

                // Oracle 2: each layer's map is the float64 head mean of the kept stack's CLS row, patches only.
                for (int l = 0; l < config.NumLayers; l++)
                {
                    var expected = new double[config.Tokens - 1];
                    for (int h = 0; h < config.NumHeads; h++)
                    {
                        ReadOnlySpan<float> row = own.Head(l, 0, h)[..config.Tokens];
                        for (int k = 1; k < config.Tokens; k++)
                        {
                            expected[k - 1] += row[k] / (double)config.NumHeads;
                        }
                    }

                    Assert.That(batched[i].Layers[l].Map.Values.ToArray(), Is.EqualTo(expected).Within(1e-6), $"image {i} layer {l + 1}");
                }
            }
        }
        finally
        {
            foreach (var e in batched)
            {
                e.Dispose();
            }
        }
    }

    [Test]
    public void DrawHeadGrid_HeadMapsFromKeptRows_EqualTheEngineOnTheFullStack()
    {
        using var e = _explainer.Explain(Cat, ExplainOptions.Default with { KeepAttentions = true });
        var config = e.Config;
        var engine = new RolloutEngine();
        for (int l = 1; l <= config.NumLayers; l++)
        {
            for (int h = 0; h < config.NumHeads; h++)
            {
                var expected = engine.LayerMap(e.Attentions!, l - 1, 0, config.GridHeight, config.GridWidth, 0, h, config.PrefixTokens);
                Assert.That(e.HeadMap(l, h).Values.ToArray(), Is.EqualTo(expected.Values.ToArray()), $"layer {l} head {h + 1}");
            }
        }

        using var grid = e.DrawHeadGrid(2);
        Assert.That(grid.Width, Is.GreaterThan(0));
    }

    [Test]
    public void Dispose_DropsTheKeptAttentionStack()
    {
        var (e, weak) = ExplainKeepingAWeakReferenceToTheStack();
        Assert.That(weak.IsAlive, Is.True);
        e.Dispose();
        MemoryProbe.ManagedBytes();
        Assert.That(weak.IsAlive, Is.False, "the disposed explanation no longer holds its stack");
        GC.KeepAlive(e);
    }

    [Test]
    public void ExplainPixels_SixteenHeldExplanations_HoldNoBatchAttention()
    {
        var config = TestModels.ManyTokens;
        using var explainer = TestModels.Explainer(config, ExplainerOptions.Default with { MaxBatchSize = 8 });
        float[] pixels = RandomPixels(16 * 3 * 64 * 64, seed: 11);
        foreach (var warm in explainer.ExplainPixels(pixels.AsSpan(0, 8 * 3 * 64 * 64)))
        {
            warm.Dispose();
        }

        long before = MemoryProbe.ManagedBytes();
        var held = explainer.ExplainPixels(pixels);
        long after = MemoryProbe.ManagedBytes();
        long batchStack = 8 * TestModels.StackBytes(config); // 34 MB: what each explanation used to keep alive
        TestContext.Out.WriteLine($"16 explanations hold {(after - before) / 1048576.0:F1} MiB; one batch's stack is {batchStack / 1048576.0:F1} MiB");
        Assert.That(after - before, Is.LessThan(batchStack / 4), "held explanations keep only their own maps and rows");
        foreach (var e in held)
        {
            e.Dispose();
        }
    }

    [Test]
    public void ExplainMany_32ImagesStreamedAndDisposed_ManagedHeapStaysFlat()
    {
        var config = TestModels.ManyTokens;
        using var explainer = TestModels.Explainer(config, ExplainerOptions.Default with { MaxBatchSize = 8 });
        var bitmaps = Enumerable.Range(0, 32).Select(i =>
        {
            var b = new SKBitmap(64, 64);
            b.Erase(new SKColor((byte)(i * 7), (byte)(255 - (i * 5)), 90));
            return b;
        }).ToArray();
        try
        {
            long afterFirstBatch = 0, atEnd = 0;
            int n = 0;
            foreach (var e in explainer.ExplainMany(bitmaps))
            {
                using (e)
                {
                    n++;
                    if (n == 8)
                    {
                        afterFirstBatch = MemoryProbe.ManagedBytes();
                    }
                    else if (n == 32)
                    {
                        atEnd = MemoryProbe.ManagedBytes();
                    }
                }
            }

            long batchStack = 8 * TestModels.StackBytes(config);
            TestContext.Out.WriteLine($"managed heap after batch 1: {afterFirstBatch / 1048576.0:F1} MiB, after batch 4: {atEnd / 1048576.0:F1} MiB");
            Assert.That(n, Is.EqualTo(32));
            Assert.That(atEnd - afterFirstBatch, Is.LessThan(batchStack / 4), "three more batches leave nothing behind");
        }
        finally
        {
            foreach (var b in bitmaps)
            {
                b.Dispose();
            }
        }
    }

    [Test]
    public void VitSession_OutputDisposed_NextRunReusesItsAttentionBuffer()
    {
        var config = TestModels.ManyTokens;
        var model = new PreparedModel(config, VitOnnxBuilder.Build(config, VitWeights.Random(config, 3)), VitOnnxBuilder.InputName, "random");
        using var session = new VitSession(model);
        float[] pixels = RandomPixels(2 * session.InputLength, seed: 1);
        float[] first;
        using (var output = session.Run(pixels, 2))
        {
            first = output.Attentions.Buffer;
        }

        using var again = session.Run(pixels, 2);
        Assert.That(again.Attentions.Buffer, Is.SameAs(first));
        using var other = session.Run(pixels.AsSpan(0, session.InputLength), 1);
        Assert.That(other.Attentions.Buffer, Is.Not.SameAs(first), "a run in flight never shares a buffer");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private (Explanation Explanation, WeakReference Stack) ExplainKeepingAWeakReferenceToTheStack()
    {
        var e = _explainer.Explain(Cat, ExplainOptions.Default with { KeepAttentions = true });
        return (e, new WeakReference(e.Attentions));
    }

    private static object? ArgumentFor(ParameterInfo p, string folder) => p.ParameterType switch
    {
        var t when t == typeof(int) => 1,
        var t when t == typeof(bool) => false,
        var t when t == typeof(string) => p.Name == "folder" ? folder : null,
        var t when t == typeof(Stream) => new MemoryStream(),
        var t when t == typeof(FigureKind) => FigureKind.Rollout,
        _ => null,
    };

    private static float[] RandomPixels(int length, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() * 2) - 1))];
    }
}
