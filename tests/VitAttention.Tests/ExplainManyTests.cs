using SkiaSharp;

namespace VitAttention.Tests;

/// <summary>
/// ExplainMany streams any sequence of paths, bytes, streams or bitmaps, yields each batch as it finishes, reports
/// unreadable images and goes on; the async methods never block on a caller's synchronisation context.
/// </summary>
[NonParallelizable]
public sealed class ExplainManyTests
{
    private static readonly string[] Photos = ["chelsea.png", "coffee.png", "astronaut.png", "chelsea.jpg"];

    private VitExplainer _explainer = null!;

    [OneTimeSetUp]
    public void Load() => _explainer = VitExplainer.Load(FixturePaths.HfFolder, ExplainerOptions.Default with { MaxBatchSize = 2 });

    [OneTimeTearDown]
    public void Unload() => _explainer.Dispose();

    private static string[] Paths => [.. Photos.Select(FixturePaths.Image)];

    private static string Missing => Path.Combine(Path.GetTempPath(), "vitattention-missing-" + Guid.NewGuid().ToString("N") + ".png");

    private float[][] SequentialRollouts() => [.. Paths.Select(p =>
    {
        using var e = _explainer.Explain(p);
        return e.Rollout.ToArray();
    })];

    [Test]
    public void ExplainMany_LazySequence_YieldsFirstBatchBeforeReadingTheRest()
    {
        var pulled = new List<int>();
        IEnumerable<string> Source()
        {
            for (int i = 0; i < Photos.Length; i++)
            {
                pulled.Add(i);
                yield return Paths[i];
            }
        }

        using var enumerator = _explainer.ExplainMany(Source()).GetEnumerator();
        Assert.That(pulled, Is.Empty, "nothing is read before the first MoveNext");
        Assert.That(enumerator.MoveNext(), Is.True);
        using (enumerator.Current)
        {
            Assert.That(pulled, Is.EqualTo(new[] { 0, 1 }), "the first explanation arrives after one batch of 2, not after all 4 images");
        }
    }

    [Test]
    public void ExplainMany_PathsBytesStreamsBitmaps_EqualOneAtATime()
    {
        float[][] expected = SequentialRollouts();
        byte[][] bytes = [.. Paths.Select(File.ReadAllBytes)];
        var bitmaps = Paths.Select(SKBitmap.Decode).ToArray();
        try
        {
            var streams = bytes.Select(b => new MemoryStream(b)).ToArray();
            var runs = new Dictionary<string, Func<IEnumerable<Explanation>>>
            {
                ["paths"] = () => _explainer.ExplainMany(Paths.ToList()),
                ["bytes"] = () => _explainer.ExplainMany(bytes),
                ["streams"] = () => _explainer.ExplainMany(streams),
                ["bitmaps"] = () => _explainer.ExplainMany(bitmaps),
                ["inputs"] = () => _explainer.ExplainMany(new ImageInput[] { Paths[0], bytes[1], streams[2], bitmaps[3] }),
            };
            foreach (var (kind, run) in runs)
            {
                foreach (var s in streams)
                {
                    s.Position = 0;
                }

                var results = run().ToList();
                Assert.That(results, Has.Count.EqualTo(Photos.Length), kind);
                for (int i = 0; i < results.Count; i++)
                {
                    using var e = results[i];
                    // Bitmaps skip the codec's EXIF handling and bytes are decoded the same way: all must match closely.
                    Assert.That(e.Rollout.ToArray(), Is.EqualTo(expected[i]).Within(1e-5), $"{kind} image {i}");
                }
            }

            Assert.That(_explainer.ExplainMany(bytes).First().Source, Is.EqualTo("image bytes [0]"));
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
    public void ExplainMany_UnreadableImagesAmongOthers_ReportsThemAndExplainsTheRest()
    {
        string text = Path.Combine(TestContext.CurrentContext.TestDirectory, "Inference", "Images", "text.png");
        string missing = Missing;
        string[] images = [Paths[0], missing, Paths[1], text, Paths[2]];
        var failures = new List<ExplainFailure>();
        var results = _explainer.ExplainMany(images, null, failures.Add).ToList();
        try
        {
            Assert.That(results.Select(e => e.Source), Is.EqualTo(new[] { Paths[0], Paths[1], Paths[2] }));
            Assert.That(failures.Select(f => f.Index), Is.EqualTo(new[] { 1, 3 }));
            Assert.That(failures[0].Error, Is.InstanceOf<FileNotFoundException>());
            Assert.That(failures[0].Error.Message, Does.Contain(missing));
            Assert.That(failures[1].Error, Is.InstanceOf<InvalidImageException>());
            Assert.That(failures[1].Source, Is.EqualTo(text));
            float[][] expected = SequentialRollouts();
            Assert.That(results[2].Rollout.ToArray(), Is.EqualTo(expected[2]).Within(1e-6));
        }
        finally
        {
            results.ForEach(e => e.Dispose());
        }
    }

    [Test]
    public void ExplainMany_UnreadableImageWithoutHandler_YieldsTheEarlierOnesThenThrows()
    {
        string missing = Missing;
        var received = new List<string>();
        var ex = Assert.Throws<FileNotFoundException>(() =>
        {
            foreach (var e in _explainer.ExplainMany([Paths[0], Paths[1], Paths[2], missing, Paths[3]]))
            {
                using (e)
                {
                    received.Add(e.Source);
                }
            }
        });
        Assert.That(ex!.Message, Does.Contain(missing));
        Assert.That(received, Is.EqualTo(Paths[..3]), "every image before the bad one is explained and delivered");
    }

    [Test]
    public void ExplainMany_UnsupportedElementType_ThrowsAtTheCall()
    {
        var ex = Assert.Throws<ArgumentException>(() => _explainer.ExplainMany("chelsea.png"));
        Assert.That(ex!.Message, Does.Contain("Char").And.Contain("string"));
    }

    [Test]
    public void ExplainMany_StoppedEarly_DisposesWhatWasBuiltAndReadsNoMore()
    {
        var pulled = 0;
        IEnumerable<string> Source()
        {
            foreach (string p in Paths)
            {
                pulled++;
                yield return p;
            }
        }

        foreach (var e in _explainer.ExplainMany(Source()))
        {
            e.Dispose();
            break; // the second explanation of the batch was built but never handed out
        }

        Assert.That(pulled, Is.EqualTo(2));
    }

    [Test]
    public async Task ExplainManyAsync_Paths_EqualsTheSynchronousRun()
    {
        float[][] expected = SequentialRollouts();
        var failures = new List<ExplainFailure>();
        int i = 0;
        await foreach (var e in _explainer.ExplainManyAsync([Paths[0], Missing, Paths[1], Paths[2], Paths[3]], null, failures.Add))
        {
            using (e)
            {
                Assert.That(e.Rollout.ToArray(), Is.EqualTo(expected[i]).Within(1e-6), $"image {i}");
                i++;
            }
        }

        Assert.That(i, Is.EqualTo(Photos.Length));
        Assert.That(failures.Single().Index, Is.EqualTo(1));
    }

    [Test]
    public async Task ExplainAsync_FileAndStream_EqualExplain()
    {
        using var sync = _explainer.Explain(Paths[1]);
        using var fromFile = await _explainer.ExplainAsync(Paths[1]);
        await using var stream = File.OpenRead(Paths[1]);
        using var fromStream = await _explainer.ExplainAsync(ImageInput.FromStream(stream, "coffee upload"));
        Assert.That(fromFile.Rollout.ToArray(), Is.EqualTo(sync.Rollout.ToArray()));
        Assert.That(fromStream.Rollout.ToArray(), Is.EqualTo(sync.Rollout.ToArray()));
        Assert.That(fromStream.Source, Is.EqualTo("coffee upload"));
        var predictions = await _explainer.ClassifyAsync(Paths[1], topK: 2);
        Assert.That(predictions.Select(p => p.Index), Is.EqualTo(sync.Predictions.Take(2).Select(p => p.Index)));
    }

    [Test]
    public void AsyncMethods_OnASingleThreadedContext_NeverPostBackToIt()
    {
        // A UI thread's context: any continuation that captured it would be posted here (and deadlock if the thread
        // then waited). The library's awaits must not capture it.
        var context = new RecordingContext();
        SynchronizationContext? previous = SynchronizationContext.Current;
        Task<Explanation> explain;
        Task<IReadOnlyList<VitAttention.Inference.Prediction>> classify;
        Task<VitExplainer> load;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            explain = _explainer.ExplainAsync(Paths[0]);
            classify = _explainer.ClassifyAsync(Paths[0]);
            load = VitExplainer.LoadAsync(FixturePaths.HfFolder);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        Assert.That(Task.WaitAll([explain, classify, load], TimeSpan.FromSeconds(60)), Is.True, "the calls finished without the blocked context");
        explain.Result.Dispose();
        load.Result.Dispose();
        Assert.That(context.Posts, Is.Zero);
    }

    [Test]
    public void Explain_BytesAndOptions_CompilesAndUsesTheOptions()
    {
        byte[] bytes = File.ReadAllBytes(Paths[0]);
        var options = ExplainOptions.Default with { TopK = 2 };
        using var e = _explainer.Explain(bytes, options);
        Assert.That(e.Predictions, Has.Count.EqualTo(2));
        Assert.That(e.Source, Is.EqualTo("image bytes"));
        using var named = _explainer.Explain(ImageInput.FromBytes(bytes, "upload.png"), options);
        Assert.That(named.Source, Is.EqualTo("upload.png"));
        Assert.That(named.DefaultStem, Is.EqualTo("upload"));
    }

    [Test]
    public async Task Explain_PhotoThroughASymbolicLink_EqualsThePhoto()
    {
        string dir = FixturePaths.NewTempFolder();
        try
        {
            string link = Path.Combine(dir, "linked.png");
            File.CreateSymbolicLink(link, Paths[2]);
            using var direct = _explainer.Explain(Paths[2]);
            using var linked = _explainer.Explain(link);
            using var linkedAsync = await _explainer.ExplainAsync(link);
            Assert.That(linked.Rollout.ToArray(), Is.EqualTo(direct.Rollout.ToArray()));
            Assert.That(linkedAsync.Rollout.ToArray(), Is.EqualTo(direct.Rollout.ToArray()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class RecordingContext : SynchronizationContext
    {
        private int _posts;

        public int Posts => Volatile.Read(ref _posts);

        public override void Post(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _posts);
            base.Post(d, state);
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _posts);
            base.Send(d, state);
        }
    }
}
