using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// One explainer shared by many calls and threads: results equal the sequential ones, cancellation stops a batch
/// run between batches, and neither the managed heap nor the process's resident memory grows over many calls.
/// </summary>
[TestFixture]
[NonParallelizable] // measures the process's memory
public sealed class LongRunTests
{
    /// <summary>Environment variable: calls of the explicit long run (default 1000).</summary>
    public const string CallsVariable = "VITATTENTION_LONGRUN_CALLS";

    /// <summary>Environment variable: threads of the explicit long run (default 4).</summary>
    public const string ThreadsVariable = "VITATTENTION_LONGRUN_THREADS";

    /// <summary>Environment variable: a file the long run's table is appended to.</summary>
    public const string ReportVariable = "VITATTENTION_MEMORY_REPORT";

    private static readonly string[] Photos = ["chelsea.jpg", "chelsea.png", "coffee.png", "astronaut.png"];

    private VitExplainer _explainer = null!;

    [OneTimeSetUp]
    public void Load() => _explainer = VitExplainer.Load(FixturePaths.HfFolder);

    [OneTimeTearDown]
    public void Dispose() => _explainer.Dispose();

    private static string Photo(int i) => i % (Photos.Length + 1) == Photos.Length
        ? Path.Combine(FixturePaths.HfFolder, "input.png")
        : FixturePaths.Image(Photos[i % (Photos.Length + 1)]);

    private static string[] AllPhotos => [.. Enumerable.Range(0, Photos.Length + 1).Select(Photo)];

    [Test]
    public void ExplainMany_CancelledAfterFirstExplanation_ThrowsAndStartsNoFurtherBatch()
    {
        using var explainer = VitExplainer.Load(FixturePaths.HfFolder, ExplainerOptions.Default with { MaxBatchSize = 2 });
        string missing = Path.Combine(Path.GetTempPath(), "vitattention-no-such-photo-" + Guid.NewGuid().ToString("N") + ".png");

        // Images after the first batch do not exist: reading them would throw FileNotFound, not cancellation.
        string[] images = [Photo(0), Photo(1), missing, missing, missing, missing];
        using var cts = new CancellationTokenSource();
        var received = new List<string>();
        Assert.That(() =>
        {
            foreach (var e in explainer.ExplainMany(images, null, null, cts.Token))
            {
                using (e)
                {
                    received.Add(e.Source);
                    cts.Cancel();
                }
            }
        }, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(received, Is.EqualTo(new[] { Photo(0), Photo(1) }), "the first batch, already built, is delivered; nothing after it is read");

        // The explainer still works after a cancelled run.
        using var after = explainer.Explain(Photo(0));
        using var fresh = _explainer.Explain(Photo(0));
        Assert.That(after.Rollout.Values.ToArray(), Is.EqualTo(fresh.Rollout.Values.ToArray()));
    }

    [Test]
    public void ExplainMany_TokenCancelledBeforeStart_ThrowsWithoutReadingImages()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        string missing = Path.Combine(Path.GetTempPath(), "vitattention-no-such-photo-" + Guid.NewGuid().ToString("N") + ".png");
        Assert.That(() => _explainer.ExplainMany([missing], null, null, cts.Token).ToList(), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void Explain_EightThreadsMixingPathsBytesAndBatches_EqualsSequentialResults()
    {
        string[] photos = AllPhotos;
        byte[][] bytes = [.. photos.Select(File.ReadAllBytes)];
        var sequential = photos.Select(p =>
        {
            using var e = _explainer.Explain(p);
            return Fingerprint(e);
        }).ToArray();

        var failures = new ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int k = 0; k < 12; k++)
            {
                int i = (t + k) % photos.Length;
                switch ((t + k) % 3)
                {
                    case 0:
                    {
                        using var e = _explainer.Explain(photos[i]);
                        Check(e, i, $"thread {t} call {k} path");
                        break;
                    }

                    case 1:
                    {
                        using var e = _explainer.Explain(ImageInput.FromBytes(bytes[i], photos[i]));
                        Check(e, i, $"thread {t} call {k} bytes");
                        break;
                    }

                    default:
                    {
                        int j = (i + 1) % photos.Length;
                        var many = _explainer.ExplainMany([photos[i], photos[j]]).ToList();
                        Check(many[0], i, $"thread {t} call {k} batch item 0");
                        Check(many[1], j, $"thread {t} call {k} batch item 1");
                        many[0].Dispose();
                        many[1].Dispose();
                        break;
                    }
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(failures, Is.Empty);

        void Check(Explanation e, int i, string what)
        {
            var f = Fingerprint(e);
            if (!f.Rollout.SequenceEqual(sequential[i].Rollout) || !f.Maps.SequenceEqual(sequential[i].Maps) || !f.Probabilities.SequenceEqual(sequential[i].Probabilities))
            {
                failures.Add($"{what} ({Path.GetFileName(photos[i])}) differs from the sequential result");
            }
        }
    }

    [Test]
    public void Explain_200CallsAfterWarmUp_ManagedHeapGrowsLessThan5MB()
    {
        // Small photos so the test stays quick; the explicit long run below uses the large ones too.
        string[] photos = [Path.Combine(FixturePaths.HfFolder, "input.png"), FixturePaths.Image("chelsea.jpg")];
        for (int i = 0; i < 40; i++)
        {
            using var e = _explainer.Explain(photos[i % 2]);
        }

        long before = MemoryProbe.ManagedBytes();
        for (int i = 0; i < 200; i++)
        {
            using var e = _explainer.Explain(photos[i % 2]);
        }

        long after = MemoryProbe.ManagedBytes();
        TestContext.Out.WriteLine($"managed heap after warm-up {before / 1024.0:F0} KiB, after 200 calls {after / 1024.0:F0} KiB");
        Assert.That(after - before, Is.LessThan(5L * 1024 * 1024));
    }

    /// <summary>
    /// The long run of docs/reliability.md: 1000 explain calls (in rounds of 100, 4 threads at a time unless VITATTENTION_LONGRUN_THREADS says otherwise) on one shared
    /// explainer, sampling the managed heap after a full collection and the resident set size after every round.
    /// </summary>
    [Test]
    [Explicit("long run: about a minute; writes the memory table of docs/reliability.md")]
    public void LongRun_1000Explains_ManagedAndResidentMemoryFlat()
    {
        int calls = int.TryParse(Environment.GetEnvironmentVariable(CallsVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 1000;
        int threads = int.TryParse(Environment.GetEnvironmentVariable(ThreadsVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out int t) && t > 0 ? t : 4;
        string[] photos = AllPhotos;
        for (int i = 0; i < 20; i++)
        {
            using var e = _explainer.Explain(photos[i % photos.Length]);
        }

        var table = new StringBuilder($"| calls | managed heap (MiB) | RSS (MiB) | peak RSS (MiB) |{Environment.NewLine}|---|---|---|---|{Environment.NewLine}");
        var samples = new List<(int Calls, long Managed, long Rss)>();
        void Sample(int done)
        {
            long managed = MemoryProbe.ManagedBytes();
            long rss = MemoryProbe.ResidentBytes();
            samples.Add((done, managed, rss));
            table.Append(CultureInfo.InvariantCulture, $"| {done} | {managed / 1048576.0:F2} | {rss / 1048576.0:F1} | {MemoryProbe.PeakResidentBytes() / 1048576.0:F1} |{Environment.NewLine}");
        }

        Sample(0);
        int round = 100;
        for (int start = 0; start < calls; start += round)
        {
            int count = Math.Min(round, calls - start);
            Parallel.For(start, start + count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
            {
                using var e = _explainer.Explain(photos[i % photos.Length]);
            });
            Sample(start + count);
        }

        string text = $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} CPU(s), {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
            $"{System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, {calls} explain calls on {threads} thread(s) after 20 warm-up calls, " +
            $"MALLOC_ARENA_MAX={Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") ?? "unset"}{Environment.NewLine}{table}";
        TestContext.Out.WriteLine(text);
        if (Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 } report)
        {
            File.AppendAllText(report, text);
        }

        // Generous bounds: growth from the first round's end (caches, JIT, ORT arenas warmed) to the last.
        var first = samples[1];
        var last = samples[^1];
        Assert.That(last.Managed - first.Managed, Is.LessThan(5L * 1024 * 1024), "managed heap grew");
        Assert.That(last.Rss - first.Rss, Is.LessThan(64L * 1024 * 1024), "resident memory grew");
    }

    /// <summary>
    /// Issue 10's goal for the library: streaming 1000 images through <see cref="VitExplainer.ExplainMany{TImage}"/>
    /// (each explanation drawn to PNG in memory and disposed, as the CLI does) ends within 1.2× of the peak resident
    /// memory that 10 images reached. Run alone: the peak is the whole test process's.
    /// </summary>
    [Test]
    [Explicit("long run: 1000 images with figures, a few minutes; its numbers are in docs/reliability.md")]
    public void ExplainMany_1000ImagesWithFigures_PeakWithin1Point2OfTheTenImagePeak()
    {
        using var explainer = VitExplainer.Load(FixturePaths.HfFolder);
        long Stream(int count)
        {
            foreach (var e in explainer.ExplainMany(Enumerable.Range(0, count).Select(Photo)))
            {
                using (e)
                {
                    // The four figures every explanation has, the ones SaveFigures and the CLI write; Methods and
                    // Classes need methods the default explanation does not ask for.
                    foreach (var (kind, _) in FigurePaths.FigureSuffixes)
                    {
                        using var image = e.Draw(kind);
                        _ = global::VitAttention.Rendering.Figures.EncodePng(image);
                    }

                    _ = e.ToJson();
                }
            }

            return MemoryProbe.PeakResidentBytes();
        }

        long ten = Stream(10);
        long thousand = Stream(1000);
        string line = $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: ExplainMany peak RSS after 10 images {ten / 1048576.0:F1} MiB, after 1000 more {thousand / 1048576.0:F1} MiB ({(double)thousand / ten:F3}×){Environment.NewLine}";
        TestContext.Out.Write(line);
        if (Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 } report)
        {
            File.AppendAllText(report, line);
        }

        Assert.That((double)thousand / ten, Is.LessThanOrEqualTo(1.2));
    }

    private static (float[] Rollout, float[] Maps, float[] Probabilities) Fingerprint(Explanation e) =>
        (e.Rollout.Values.ToArray(), e.Layers.SelectMany(l => l.Map.ToArray()).ToArray(), e.Probabilities.ToArray());
}
