using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Tests.Models;

namespace VitAttention.Tests.Loading;

[NonParallelizable] // reads the process-wide build counter
public class PrepareCachedTests
{
    [Test]
    public void PrepareCached_SecondCall_ReusesTheFileWithoutRebuilding()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        int before = CheckpointLoader.BuildCount;
        var first = CheckpointLoader.PrepareCached(t.Folder);
        string cached = Path.Combine(t.Folder, CheckpointLoader.CacheFileName);
        Assert.That(File.Exists(cached), Is.True);
        Assert.That(File.ReadAllBytes(cached), Is.EqualTo(first.Onnx));
        DateTime written = File.GetLastWriteTimeUtc(cached);

        var second = CheckpointLoader.PrepareCached(t.Folder);
        Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
        Assert.That(File.GetLastWriteTimeUtc(cached), Is.EqualTo(written));
        Assert.That(second.Onnx, Is.EqualTo(first.Onnx));
        Assert.That(second.Config, Is.EqualTo(first.Config).Using<VitConfig>((a, b) => a.Tokens == b.Tokens && a.NumClasses == b.NumClasses));
        Assert.That(Directory.GetFiles(t.Folder, "*.tmp"), Is.Empty);
    }

    [Test]
    public void PrepareCached_ChangedConfig_Rebuilds()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        CheckpointLoader.PrepareCached(t.Folder);
        int before = CheckpointLoader.BuildCount;
        t.EditConfig(j => j["id2label"]!["0"] = "tiger cat");
        var rebuilt = CheckpointLoader.PrepareCached(t.Folder);
        Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
        Assert.That(rebuilt.Config.Labels[0], Is.EqualTo("tiger cat"));
    }

    [Test]
    public void PrepareCached_ChangedWeights_RebuildsAndServesTheNewGraph()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        var old = CheckpointLoader.PrepareCached(t.Folder);
        int before = CheckpointLoader.BuildCount;
        t.EditWeights(w =>
        {
            var (shape, data) = w["classifier.bias"];
            w["classifier.bias"] = (shape, [.. data.Select(v => v + 1f)]);
        });
        File.SetLastWriteTimeUtc(t.WeightsPath, DateTime.UtcNow.AddMinutes(1));
        var rebuilt = CheckpointLoader.PrepareCached(t.Folder);
        Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
        Assert.That(rebuilt.Onnx, Is.Not.EqualTo(old.Onnx));
        Assert.That(File.ReadAllBytes(Path.Combine(t.Folder, CheckpointLoader.CacheFileName)), Is.EqualTo(rebuilt.Onnx));
    }

    [Test]
    public void PrepareCached_BadFolder_ThrowsBeforeWritingAnything()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["num_attention_heads"] = 5);
        Assert.Throws<ModelFormatException>(() => CheckpointLoader.PrepareCached(t.Folder));
        Assert.That(File.Exists(Path.Combine(t.Folder, CheckpointLoader.CacheFileName)), Is.False);
    }

    [Test]
    public void PrepareCached_CacheFileCannotBeWrittenInFolder_FallsBackToLocalAppData()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        // A directory where the cache file should go makes the checkpoint folder unusable as a cache (running as root,
        // permissions alone would not stop the write).
        Directory.CreateDirectory(Path.Combine(t.Folder, CheckpointLoader.CacheFileName));
        string dataHome = FixturePaths.NewTempFolder();
        string? saved = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        Environment.SetEnvironmentVariable("XDG_DATA_HOME", dataHome);
        try
        {
            int before = CheckpointLoader.BuildCount;
            var first = CheckpointLoader.PrepareCached(t.Folder);
            string[] cached = Directory.GetFiles(dataHome, CheckpointLoader.CacheFileName, SearchOption.AllDirectories);
            Assert.That(cached, Has.Length.EqualTo(1));
            Assert.That(File.ReadAllBytes(cached[0]), Is.EqualTo(first.Onnx));
            var second = CheckpointLoader.PrepareCached(t.Folder);
            Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
            Assert.That(second.Onnx, Is.EqualTo(first.Onnx));
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_DATA_HOME", saved);
            Directory.Delete(dataHome, true);
        }
    }
}
