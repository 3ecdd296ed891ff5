using System.Text;
using VitAttention.Hub;

namespace VitAttention.Tests.Hub;

public class HubCacheLayoutTests
{
    private string _cache = "";

    [SetUp]
    public void SetUp() => _cache = Path.Combine(Path.GetTempPath(), "vit-attention-layout-tests-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }

    // Oracle: `git hash-object` of an empty file and of "hello\n".
    [TestCase("", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")]
    [TestCase("hello\n", "ce013625030ba8dba906f756967f9e9ca394464a")]
    public void Compute_GitSha1_MatchesGitHashObject(string content, string expected)
    {
        Directory.CreateDirectory(_cache);
        string path = Path.Combine(_cache, "f");
        File.WriteAllText(path, content, new UTF8Encoding(false));

        Assert.That(BlobChecksum.Compute(path, "git-sha1"), Is.EqualTo(expected));
    }

    [Test]
    public void Compute_Sha256_MatchesFipsExample()
    {
        Directory.CreateDirectory(_cache);
        string path = Path.Combine(_cache, "abc");
        File.WriteAllText(path, "abc", new UTF8Encoding(false));

        // FIPS 180-2 example for "abc".
        Assert.That(BlobChecksum.Compute(path, "sha256"), Is.EqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }

    [TestCase("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", "git-sha1")]
    [TestCase("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256")]
    [TestCase("storage-1234", null)]
    [TestCase("abc", null)]
    public void AlgorithmOf_ByLength_PicksDigest(string etag, string? expected) =>
        Assert.That(BlobChecksum.AlgorithmOf(etag), Is.EqualTo(expected));

    [Test]
    public void Paths_FollowHuggingFaceLayout()
    {
        var layout = new HubCacheLayout(_cache, new ModelId("google", "vit-base-patch16-224", "main"));

        Assert.That(layout.RepoDirectory, Is.EqualTo(Path.Combine(_cache, "models--google--vit-base-patch16-224")));
        Assert.That(layout.SnapshotPath("c0ffee", "onnx/model.onnx"),
            Is.EqualTo(Path.Combine(_cache, "models--google--vit-base-patch16-224", "snapshots", "c0ffee", "onnx", "model.onnx")));
        Assert.That(layout.RefPath("refs/pr/1"), Is.EqualTo(Path.Combine(layout.RepoDirectory, "refs", "refs", "pr", "1")));
        Assert.That(layout.IncompletePath("e1"), Is.EqualTo(Path.Combine(layout.RepoDirectory, "blobs", "e1.incomplete")));
        Assert.That(layout.LockPath("e1"), Is.EqualTo(Path.Combine(_cache, ".locks", "models--google--vit-base-patch16-224", "e1.lock")));
    }

    [Test]
    public void LinkSnapshot_NestedFile_RelativeLinkResolvesToBlob()
    {
        var layout = new HubCacheLayout(_cache, new ModelId("o", "n", "main"));
        Directory.CreateDirectory(Path.GetDirectoryName(layout.BlobPath("b1"))!);
        File.WriteAllText(layout.BlobPath("b1"), "payload");

        string entry = layout.LinkSnapshot("c1", "onnx/model.onnx", "b1");

        Assert.That(new FileInfo(entry).LinkTarget, Is.EqualTo("../../../blobs/b1"));
        Assert.That(File.ReadAllText(entry), Is.EqualTo("payload"));
    }

    [Test]
    public void LinkSnapshot_DanglingEntry_Replaced()
    {
        var layout = new HubCacheLayout(_cache, new ModelId("o", "n", "main"));
        Directory.CreateDirectory(Path.GetDirectoryName(layout.BlobPath("b1"))!);
        Directory.CreateDirectory(layout.SnapshotDirectory("c1"));
        File.CreateSymbolicLink(layout.SnapshotPath("c1", "config.json"), "../../blobs/gone");
        File.WriteAllText(layout.BlobPath("b1"), "{}");

        Assert.That(HubCacheLayout.ResolvesToFile(layout.SnapshotPath("c1", "config.json")), Is.False);
        string entry = layout.LinkSnapshot("c1", "config.json", "b1");

        Assert.That(File.ReadAllText(entry), Is.EqualTo("{}"));
    }

    [Test]
    public void WriteRef_ThenReadRef_RoundTripsWithoutNewline()
    {
        var layout = new HubCacheLayout(_cache, new ModelId("o", "n", "main"));
        const string commit = "0123456789abcdef0123456789abcdef01234567";

        layout.WriteRef("main", commit);

        Assert.That(File.ReadAllText(layout.RefPath("main")), Is.EqualTo(commit));
        Assert.That(layout.ReadRef("main"), Is.EqualTo(commit));
        File.WriteAllText(layout.RefPath("main"), commit + "\n");
        Assert.That(layout.ReadRef("main"), Is.EqualTo(commit), "a newline written by another tool is tolerated");
        File.WriteAllText(layout.RefPath("main"), "../../etc");
        Assert.That(layout.ReadRef("main"), Is.Null, "a ref that is not a safe name is ignored");
    }
}
