using VitAttention.Tests.Hub;

namespace VitAttention.Tests;

/// <summary>
/// The process-wide cache behind <see cref="AttentionRollout.Compute"/>: keyed by the model the argument resolves to,
/// no lock held across another model's download, a caller's cancellation never cancels a load others wait for, and
/// <see cref="AttentionRollout.Clear"/> disposes everything.
/// </summary>
[NonParallelizable] // the cache and the HF_* variables are process-wide
public sealed class AttentionRolloutTests
{
    private static string Cat => FixturePaths.Image("chelsea.png");

    [SetUp]
    [TearDown]
    public void Clear() => AttentionRollout.Clear();

    [Test]
    public void Compute_TwoSpellingsOfOneFolder_ShareOneExplainer()
    {
        string folder = FixturePaths.HfFolder;
        string parent = Path.GetDirectoryName(folder)!;
        string dotted = Path.Combine(parent, "..", Path.GetFileName(parent), Path.GetFileName(folder)) + Path.DirectorySeparatorChar;
        using var a = AttentionRollout.Compute(Cat, model: folder);
        using var b = AttentionRollout.Compute(Cat, model: dotted);
        Assert.That(AttentionRollout.SharedCount, Is.EqualTo(1));
        Assert.That(b.Rollout.ToArray(), Is.EqualTo(a.Rollout.ToArray()));
    }

    [Test]
    public void Clear_DisposesTheSharedExplainersAndTheNextCallLoadsAgain()
    {
        using (AttentionRollout.Compute(Cat, model: FixturePaths.HfFolder))
        {
        }

        Assert.That(AttentionRollout.SharedCount, Is.EqualTo(1));
        AttentionRollout.Clear();
        Assert.That(AttentionRollout.SharedCount, Is.Zero);
        using var again = AttentionRollout.Compute(Cat, model: FixturePaths.HfFolder);
        Assert.That(again.Layers, Has.Count.EqualTo(3));
        Assert.That(AttentionRollout.SharedCount, Is.EqualTo(1));
    }

    [Test]
    public void Compute_WhileAnotherModelDownloads_IsNotBlockedAndACancelledWaiterLeavesTheLoadToOthers()
    {
        var saved = new[] { "HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "HF_TOKEN", "HF_HUB_OFFLINE" }.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        string cache = FixturePaths.NewTempFolder();
        var files = new[] { "config.json", "preprocessor_config.json", "model.safetensors" }
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(FixturePaths.HfFolder, f)));
        using var hub = new FakeHubServer("slow", "vit", files, ["model.safetensors"]) { Gate = new TaskCompletionSource() };
        try
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", cache);
            Environment.SetEnvironmentVariable("HF_HOME", null);
            Environment.SetEnvironmentVariable("HF_TOKEN", null);
            Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", null);

            using var impatient = new CancellationTokenSource();
            Task<Explanation> first = Task.Run(() => AttentionRollout.Compute(Cat, model: "slow/vit", cancellationToken: impatient.Token));
            Task<Explanation> patient = AttentionRollout.ComputeAsync(Cat, model: "slow/vit@main");
            SpinWait.SpinUntil(() => hub.Requests.Count > 0, TimeSpan.FromSeconds(30));
            Assert.That(hub.Requests, Is.Not.Empty, "the download started and is held at the gate");

            // Another model loads and explains while the download is held.
            var other = Task.Run(() => AttentionRollout.Compute(Cat, model: FixturePaths.HfFolder));
            Assert.That(other.Wait(TimeSpan.FromSeconds(60)), Is.True, "no lock is held across the other model's download");
            other.Result.Dispose();

            // The first caller gives up; its cancellation must not cancel the load the second one waits for.
            impatient.Cancel();
            Assert.That(() => first.GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
            Assert.That(patient.IsCompleted, Is.False);
            hub.Gate.SetResult();
            using var explanation = patient.GetAwaiter().GetResult();
            Assert.That(explanation.Layers, Has.Count.EqualTo(3));
            Assert.That(AttentionRollout.SharedCount, Is.EqualTo(2), "slow/vit and slow/vit@main are one model");
        }
        finally
        {
            hub.Gate?.TrySetResult();
            AttentionRollout.Clear();
            foreach (var (name, value) in saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }

            Directory.Delete(cache, recursive: true);
        }
    }

    [Test]
    public void Compute_FailedLoad_IsForgottenSoTheNextCallRetries()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            File.WriteAllText(Path.Combine(folder, "config.json"), "{ not json");
            Assert.Throws<ModelFormatException>(() => AttentionRollout.Compute(Cat, model: folder));
            Assert.That(AttentionRollout.SharedCount, Is.Zero);
            foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
            {
                File.Copy(Path.Combine(FixturePaths.HfFolder, f), Path.Combine(folder, f), overwrite: true);
            }

            using var e = AttentionRollout.Compute(Cat, model: folder);
            Assert.That(e.Layers, Has.Count.EqualTo(3));
        }
        finally
        {
            AttentionRollout.Clear();
            Directory.Delete(folder, recursive: true);
        }
    }
}
