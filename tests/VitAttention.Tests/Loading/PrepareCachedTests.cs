using VitAttention.Hub;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Tests.Models;

namespace VitAttention.Tests.Loading;

[NonParallelizable] // reads the process-wide build counter
public class PrepareCachedTests
{
    private string _root = null!;

    [SetUp]
    public void CreateRoot() => _root = FixturePaths.NewTempFolder();

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    private ModelLoadOptions Options => new() { CacheDirectory = _root };

    private string CacheFileFor(string folder) => Path.Combine(_root, PreparedModelCache.LocalSlot(folder), CheckpointLoader.CacheFileName);

    [Test]
    public void PrepareCached_SecondCall_ReusesTheFileWithoutRebuilding()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        string[] before = Directory.GetFiles(t.Folder);
        int builds = CheckpointLoader.BuildCount;
        var first = CheckpointLoader.PrepareCached(t.Folder, null, Options);
        string cached = CacheFileFor(t.Folder);
        Assert.That(first.OnnxPath, Is.EqualTo(cached), "the session opens the cached file");
        Assert.That(first.OnnxBytes, Is.Null, "the serialised graph is not held in memory");
        DateTime written = File.GetLastWriteTimeUtc(cached);

        var second = CheckpointLoader.PrepareCached(t.Folder, null, Options);
        Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(builds + 1));
        Assert.That(File.GetLastWriteTimeUtc(cached), Is.EqualTo(written));
        Assert.That(second.OnnxPath, Is.EqualTo(cached));
        Assert.That(second.Config, Is.EqualTo(first.Config).Using<VitConfig>((a, b) => a.Tokens == b.Tokens && a.NumClasses == b.NumClasses));
        Assert.That(Directory.GetFiles(t.Folder), Is.EquivalentTo(before), "nothing is written into the checkpoint folder");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(cached)!, "*.tmp"), Is.Empty);
    }

    [Test]
    public void PrepareCached_BuiltGraph_EqualsTheInMemoryBuild()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        var cached = CheckpointLoader.PrepareCached(t.Folder, null, Options);
        var inMemory = CheckpointLoader.Prepare(t.Folder);
        var a = global::Onnx.ModelProto.Parser.ParseFrom(cached.ReadOnnx());
        var b = global::Onnx.ModelProto.Parser.ParseFrom(inMemory.ReadOnnx());
        Assert.That(a.Graph, Is.EqualTo(b.Graph), "streaming the graph to the file writes the same graph");
    }

    [Test]
    public void PrepareCached_ChangedConfig_Rebuilds()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        CheckpointLoader.PrepareCached(t.Folder, null, Options);
        int before = CheckpointLoader.BuildCount;
        t.EditConfig(j => j["id2label"]!["0"] = "tiger cat");
        var rebuilt = CheckpointLoader.PrepareCached(t.Folder, null, Options);
        Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
        Assert.That(rebuilt.Config.Labels[0], Is.EqualTo("tiger cat"));
    }

    [Test]
    public void PrepareCached_ChangedWeights_RebuildsAndServesTheNewGraph()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        byte[] old = CheckpointLoader.PrepareCached(t.Folder, null, Options).ReadOnnx();
        int before = CheckpointLoader.BuildCount;
        t.EditWeights(w =>
        {
            var (shape, data) = w["classifier.bias"];
            w["classifier.bias"] = (shape, [.. data.Select(v => v + 1f)]);
        });
        File.SetLastWriteTimeUtc(t.WeightsPath, DateTime.UtcNow.AddMinutes(1));
        var rebuilt = CheckpointLoader.PrepareCached(t.Folder, null, Options);
        Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
        Assert.That(rebuilt.ReadOnnx(), Is.Not.EqualTo(old));
        Assert.That(File.ReadAllBytes(CacheFileFor(t.Folder)), Is.EqualTo(rebuilt.ReadOnnx()));
    }

    [Test]
    public void PrepareCached_BadFolder_ThrowsBeforeWritingAnything()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["num_attention_heads"] = 5);
        Assert.Throws<ModelFormatException>(() => CheckpointLoader.PrepareCached(t.Folder, null, Options));
        Assert.That(Directory.GetFileSystemEntries(_root), Is.Empty);
    }

    [Test]
    public void PrepareCached_HubSnapshot_GraphGoesToOwnCacheKeyedByCommitNeverIntoSnapshots()
    {
        // A huggingface_hub cache: models--owner--name/snapshots/{commit}/ holding the checkpoint's files.
        string hub = FixturePaths.NewTempFolder();
        try
        {
            string commit = new('a', 40);
            string snapshot = Path.Combine(hub, "models--someone--tiny-vit", "snapshots", commit);
            Directory.CreateDirectory(snapshot);
            foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
            {
                File.Copy(Path.Combine(FixturePaths.HfFolder, f), Path.Combine(snapshot, f));
            }

            var id = ModelId.Parse("someone/tiny-vit");
            var model = CheckpointLoader.PrepareCached(snapshot, PreparedModelCache.HubSlot(id, snapshot), Options);
            Assert.That(model.OnnxPath, Is.EqualTo(Path.Combine(_root, "models--someone--tiny-vit", commit, CheckpointLoader.CacheFileName)));
            Assert.That(Directory.GetFiles(Path.Combine(hub, "models--someone--tiny-vit"), "*", SearchOption.AllDirectories).Select(Path.GetFileName),
                Is.EquivalentTo(new[] { "config.json", "preprocessor_config.json", "model.safetensors" }), "nothing is added to the hub cache");
        }
        finally
        {
            Directory.Delete(hub, recursive: true);
        }
    }

    [Test]
    public void PrepareCached_CacheRootCannotBeWritten_FallsBackToTheTemporaryFolder()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        // A file where the cache root should be: no folder can be created under it (as root, permissions would not stop it).
        string blocked = Path.Combine(_root, "not-a-folder");
        File.WriteAllText(blocked, "x");
        var options = new ModelLoadOptions { CacheDirectory = blocked };
        int before = CheckpointLoader.BuildCount;
        var first = CheckpointLoader.PrepareCached(t.Folder, null, options);
        string expected = PreparedModelCache.Candidates(blocked, PreparedModelCache.LocalSlot(t.Folder)).Last();
        try
        {
            Assert.That(first.OnnxPath, Is.EqualTo(Path.Combine(expected, CheckpointLoader.CacheFileName)));
            var second = CheckpointLoader.PrepareCached(t.Folder, null, options);
            Assert.That(CheckpointLoader.BuildCount, Is.EqualTo(before + 1));
            Assert.That(second.OnnxPath, Is.EqualTo(first.OnnxPath));
        }
        finally
        {
            Directory.Delete(expected, recursive: true);
        }
    }

    [TestCase(null, null, null, "/home/u/.cache/huggingface/vit-attention")]
    [TestCase(null, "/data/hf", null, "/data/hf/vit-attention")]
    [TestCase(null, null, "/xdg", "/xdg/huggingface/vit-attention")]
    [TestCase("/mine", "/data/hf", null, "/mine")]
    public void Root_FromEnvironment_FollowsHfHome(string? own, string? hfHome, string? xdg, string expected)
    {
        var variables = new Dictionary<string, string?>
        {
            [PreparedModelCache.EnvironmentVariable] = own, ["HF_HOME"] = hfHome, ["XDG_CACHE_HOME"] = xdg,
        };
        Assume.That(Path.DirectorySeparatorChar, Is.EqualTo('/'));
        Assert.That(PreparedModelCache.Root(null, n => variables.GetValueOrDefault(n), "/home/u"), Is.EqualTo(expected));
    }
}
