using System.Security.Cryptography;
using VitAttention.Hub;

namespace VitAttention.Tests.Hub;

/// <summary>
/// <see cref="HubClient"/> against <see cref="FakeHubServer"/>, which serves the tiny-vit-hf fixture the way the hub
/// does. Every test gets a fresh temporary cache folder; none touches the user's cache or the environment.
/// </summary>
[NonParallelizable]
public class HubClientTests
{
    private const string Owner = "test-org";
    private const string Name = "tiny-vit-hf";
    private static readonly string[] Required = [.. HubClient.VitRequiredFiles];
    private static readonly string[] Optional = [.. HubClient.VitOptionalFiles];

    private string _cache = "";
    private FakeHubServer _server = null!;
    private Dictionary<string, byte[]> _fixture = null!;

    private static ModelId Id => new(Owner, Name, "main");

    [SetUp]
    public void SetUp()
    {
        string folder = Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures", "tiny-vit-hf");
        _fixture = new Dictionary<string, byte[]>
        {
            ["config.json"] = File.ReadAllBytes(Path.Combine(folder, "config.json")),
            ["preprocessor_config.json"] = File.ReadAllBytes(Path.Combine(folder, "preprocessor_config.json")),
            ["model.safetensors"] = File.ReadAllBytes(Path.Combine(folder, "model.safetensors")),
        };
        _server = new FakeHubServer(Owner, Name, _fixture, ["model.safetensors"]);
        _cache = Path.Combine(Path.GetTempPath(), "vit-attention-hub-tests-" + Guid.NewGuid().ToString("N"));
    }

    [TearDown]
    public void TearDown()
    {
        _server.Dispose();
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }

    private string RepoDir => Path.Combine(_cache, $"models--{Owner}--{Name}");

    private HubOptions Options(bool offline = false, string? token = null, double timeoutSeconds = 10) => new()
    {
        Endpoint = _server.Endpoint,
        CacheDirectory = _cache,
        Offline = offline,
        Token = token,
        HttpTimeout = TimeSpan.FromSeconds(timeoutSeconds),
    };

    private string[] BlobFiles() =>
        Directory.Exists(Path.Combine(RepoDir, "blobs")) ? Directory.GetFiles(Path.Combine(RepoDir, "blobs")) : [];

    [Test]
    public async Task ResolveSnapshotAsync_FirstDownload_WritesHuggingFaceCacheLayout()
    {
        using var client = new HubClient(Options());

        string snapshot = await client.ResolveSnapshotAsync(Id, Required, Optional);

        Assert.That(snapshot, Is.EqualTo(Path.Combine(RepoDir, "snapshots", _server.Commit)));
        Assert.That(File.ReadAllText(Path.Combine(RepoDir, "refs", "main")), Is.EqualTo(_server.Commit), "refs/main holds the commit, no newline");
        foreach (var (file, bytes) in _fixture)
        {
            string etag = _server.EtagOf(file);
            string blob = Path.Combine(RepoDir, "blobs", etag);
            string entry = Path.Combine(snapshot, file);
            Assert.That(File.ReadAllBytes(blob), Is.EqualTo(bytes), $"blob of {file}");
            Assert.That(new FileInfo(entry).LinkTarget, Is.EqualTo("../../blobs/" + etag), $"snapshot entry of {file}");
            Assert.That(File.ReadAllBytes(entry), Is.EqualTo(bytes), $"{file} read through the snapshot");
        }

        Assert.That(_server.EtagOf("model.safetensors"), Is.EqualTo(FakeHubServer.Sha256(_fixture["model.safetensors"])));
        Assert.That(BlobFiles().Select(Path.GetFileName), Is.EquivalentTo(_fixture.Keys.Select(_server.EtagOf)), "no .incomplete left");
    }

    [Test]
    public async Task DownloadFileAsync_WarmCacheServerStoppedOffline_ResolvesFromCache()
    {
        using (var online = new HubClient(Options()))
        {
            await online.ResolveSnapshotAsync(Id, Required, Optional);
        }

        _server.Stop();
        int requestsBefore = _server.Requests.Count;
        using var offline = new HubClient(Options(offline: true));

        string snapshot = await offline.ResolveVitSnapshotAsync(Id);
        string model = await offline.DownloadFileAsync(Id, "model.safetensors");

        Assert.That(snapshot, Is.EqualTo(Path.Combine(RepoDir, "snapshots", _server.Commit)));
        Assert.That(File.ReadAllBytes(model), Is.EqualTo(_fixture["model.safetensors"]));
        Assert.That(_server.Requests, Has.Count.EqualTo(requestsBefore));
    }

    [Test]
    public async Task DownloadFileAsync_HubUnreachableWithWarmCache_UsesCachedRevision()
    {
        using (var online = new HubClient(Options()))
        {
            await online.DownloadFileAsync(Id, "config.json");
        }

        _server.Stop();
        using var client = new HubClient(Options(timeoutSeconds: 5));

        string path = await client.DownloadFileAsync(Id, "config.json");

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(_fixture["config.json"]));
    }

    [Test]
    public void DownloadFileAsync_HubUnreachableColdCache_SaysWhatToDo()
    {
        _server.Stop();
        using var client = new HubClient(Options(timeoutSeconds: 5));

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("could not reach").And.Contain(_server.Endpoint).And.Contain("HF_HUB_OFFLINE"));
    }

    [Test]
    public void DownloadFileAsync_ColdCacheOffline_SaysOfflineModeIsOn()
    {
        using var client = new HubClient(Options(offline: true));

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("offline mode (HF_HUB_OFFLINE) is on")
            .And.Contain($"{Owner}/{Name}/config.json").And.Contain(RepoDir));
        Assert.That(_server.Requests, Is.Empty);
    }

    [Test]
    public async Task DownloadFileAsync_InterruptedThenResumed_SendsRangeAndEndsWithFixtureBytes()
    {
        byte[] expected = _fixture["model.safetensors"];
        string incomplete = Path.Combine(RepoDir, "blobs", _server.EtagOf("model.safetensors") + ".incomplete");
        using var client = new HubClient(Options());
        _server.DropAfterBytes = 100_000;

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "model.safetensors"));
        Assert.That(ex!.Message, Does.Contain("model.safetensors").And.Contain("interrupted").And.Contain("resume").And.Contain(incomplete));
        long kept = new FileInfo(incomplete).Length;
        Assert.That(kept, Is.InRange(1, 100_000));
        Assert.That(_server.Requests.Where(r => r.Range is not null), Is.Empty);

        _server.DropAfterBytes = null;
        var progress = new RecordingProgress();
        string path = await client.DownloadFileAsync(Id, "model.safetensors", progress);

        Assert.That(_server.Requests.Select(r => r.Range), Does.Contain($"bytes={kept}-"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(expected));
        Assert.That(progress.Reports[0].BytesReceived, Is.EqualTo(kept), "progress starts at the kept bytes");
        Assert.That(File.Exists(incomplete), Is.False);
    }

    [Test]
    public async Task DownloadFileAsync_ServerIgnoresRange_RestartsFromZero()
    {
        byte[] expected = _fixture["model.safetensors"];
        using var client = new HubClient(Options());
        _server.DropAfterBytes = 50_000;
        Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "model.safetensors"));

        _server.DropAfterBytes = null;
        _server.HonourRange = false;
        var progress = new RecordingProgress();
        string path = await client.DownloadFileAsync(Id, "model.safetensors", progress);

        Assert.That(_server.Requests.Count(r => r.Range is not null), Is.EqualTo(1), "a resume was asked for");
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(expected));
        AssertMonotonicAndComplete(progress, expected.Length);
    }

    [Test]
    public void DownloadFileAsync_CorruptLargeFile_RejectedNamingBothHashesAndNothingCached()
    {
        byte[] expected = _fixture["model.safetensors"];
        byte[] corrupted = (byte[])expected.Clone();
        corrupted[FakeHubServer.CorruptIndexOf(corrupted.Length)] ^= 0xFF;
        _server.CorruptBody = true;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "model.safetensors"));

        Assert.That(ex!.Message, Does.Contain("model.safetensors").And.Contain("corrupt")
            .And.Contain(Convert.ToHexStringLower(SHA256.HashData(expected)))
            .And.Contain(Convert.ToHexStringLower(SHA256.HashData(corrupted))));
        Assert.That(BlobFiles(), Is.Empty, "neither blob nor .incomplete is left");
        Assert.That(Directory.Exists(Path.Combine(RepoDir, "snapshots", _server.Commit)), Is.False);
    }

    [Test]
    public void DownloadFileAsync_CorruptSmallFile_RejectedByGitBlobSha1()
    {
        byte[] expected = _fixture["config.json"];
        byte[] corrupted = (byte[])expected.Clone();
        corrupted[FakeHubServer.CorruptIndexOf(corrupted.Length)] ^= 0xFF;
        _server.CorruptBody = true;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("config.json").And.Contain("git-sha1")
            .And.Contain(FakeHubServer.GitBlobSha1(expected)).And.Contain(FakeHubServer.GitBlobSha1(corrupted)));
        Assert.That(BlobFiles(), Is.Empty);
    }

    [Test]
    public async Task DownloadFileAsync_ResumedBytesCorrupt_RestartsOnceAndSucceeds()
    {
        byte[] expected = _fixture["model.safetensors"];
        string incomplete = Path.Combine(RepoDir, "blobs", _server.EtagOf("model.safetensors") + ".incomplete");
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        byte[] bad = expected[..60_000];
        bad[123] ^= 0x55; // a bad byte inside the part an earlier run left behind
        File.WriteAllBytes(incomplete, bad);
        using var client = new HubClient(Options());

        string path = await client.DownloadFileAsync(Id, "model.safetensors");

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(expected));
        Assert.That(_server.Requests.Select(r => r.Range), Does.Contain("bytes=60000-"));
    }

    [Test]
    public void DownloadFileAsync_FileNotFound_SaysCheckIdAndRevision()
    {
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "pytorch_model.bin"));

        Assert.That(ex!.Message, Does.StartWith("model or file not found")
            .And.Contain($"{Owner}/{Name}/pytorch_model.bin").And.Contain(_server.Endpoint).And.Contain("check the id and revision"));
    }

    [Test]
    public void DownloadFileAsync_UnknownRevision_NotFound()
    {
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id.WithRevision("v9"), "config.json"));

        Assert.That(ex!.Message, Does.Contain("not found").And.Contain("revision v9"));
    }

    [Test]
    public void DownloadFileAsync_Status404ForAll_NotFoundAndNothingWritten()
    {
        _server.ForceStatus = 404;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.ResolveSnapshotAsync(Id, Required, Optional));

        Assert.That(ex!.Message, Does.Contain("model or file not found").And.Contain("config.json"));
        Assert.That(Directory.Exists(RepoDir), Is.False);
    }

    [Test]
    public void DownloadFileAsync_Unauthorized_MentionsGatedAndHfToken()
    {
        _server.ForceStatus = 401;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("401").And.Contain("gated").And.Contain("Set HF_TOKEN"));
    }

    [Test]
    public void DownloadFileAsync_ForbiddenWithToken_SaysTokenWasSent()
    {
        _server.ForceStatus = 403;
        using var client = new HubClient(Options(token: "hf_test_token"));

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("403").And.Contain("HF_TOKEN was sent"));
        Assert.That(_server.Requests.Select(r => r.Authorization), Does.Contain("Bearer hf_test_token"));
    }

    [Test]
    public async Task DownloadFileAsync_TokenSet_SentToHubButNotToStorageHost()
    {
        _server.StorageHost = "localhost";
        using var client = new HubClient(Options(token: "hf_secret"));

        string path = await client.DownloadFileAsync(Id, "model.safetensors");

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(_fixture["model.safetensors"]));
        var requests = _server.Requests.ToList();
        Assert.That(requests.Where(r => r.Path.Contains("/resolve/", StringComparison.Ordinal)).Select(r => r.Authorization),
            Is.Not.Empty.And.All.EqualTo("Bearer hf_secret"));
        Assert.That(requests.Where(r => r.Path.StartsWith("/lfs/", StringComparison.Ordinal)).Select(r => r.Authorization),
            Is.Not.Empty.And.All.Null);
    }

    [Test]
    public void DownloadFileAsync_ConnectionClosedWithoutAnswer_SaysCouldNotReach()
    {
        _server.DropBeforeAnswer = true;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("could not reach").And.Contain("config.json").And.Contain("retry"));
    }

    [Test]
    public void DownloadFileAsync_ServerError_SaysRetryLater()
    {
        _server.ForceStatus = 500;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("HTTP 500").And.Contain("retry later"));
    }

    [TestCase("model.safetensors", -10)]
    [TestCase("model.safetensors", +10)]
    [TestCase("config.json", -10)]
    [TestCase("config.json", +10)]
    public void DownloadFileAsync_WrongSize_RejectedNamingSizes(string file, int delta)
    {
        int size = _fixture[file].Length;
        _server.BodyLengthDelta = delta;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, file));

        Assert.That(ex!.Message, Does.Contain(file).And.Contain("wrong size").And.Contain($"announced {size} bytes"));
        if (delta < 0)
        {
            Assert.That(ex.Message, Does.Contain($"{size + delta} arrived"));
        }

        Assert.That(BlobFiles(), Is.Empty);
    }

    [Test]
    public void DownloadFileAsync_ConnectionDropped_KeepsPartialAndSaysRunAgain()
    {
        _server.DropAfterBytes = 200;
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        string incomplete = Path.Combine(RepoDir, "blobs", _server.EtagOf("config.json") + ".incomplete");
        Assert.That(ex!.Message, Does.Contain("config.json").And.Contain("interrupted")
            .And.Contain($"of {_fixture["config.json"].Length} bytes").And.Contain("Run again to resume"));
        Assert.That(File.ReadAllBytes(incomplete), Is.EqualTo(_fixture["config.json"][..200]));
    }

    [Test]
    public void DownloadFileAsync_ServerStalls_TimesOutWithResumeHint()
    {
        _server.StallAfterBytes = 1000;
        using var client = new HubClient(Options(timeoutSeconds: 2));

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "model.safetensors"));

        Assert.That(ex!.Message, Does.Contain("model.safetensors").And.Contain("stalled").And.Contain("Run again to resume"));
    }

    [Test]
    public async Task ResolveSnapshotAsync_Progress_MonotonicPerFileAndReachesTotal()
    {
        var progress = new RecordingProgress();
        using var client = new HubClient(Options());

        await client.ResolveSnapshotAsync(Id, Required, Optional, progress);

        foreach (var (file, bytes) in _fixture)
        {
            var reports = progress.Reports.Where(r => r.File == file).ToList();
            Assert.That(reports, Is.Not.Empty, file);
            Assert.That(reports.Select(r => r.BytesReceived), Is.Ordered.Ascending, file);
            Assert.That(reports.Select(r => r.TotalBytes), Is.All.EqualTo(bytes.Length), file);
            Assert.That(reports[^1].BytesReceived, Is.EqualTo(bytes.Length), file);
        }

        var second = new RecordingProgress();
        await client.ResolveSnapshotAsync(Id, Required, Optional, second);
        Assert.That(second.Reports, Is.Empty, "cached files report nothing");
    }

    [Test]
    public void DownloadFileAsync_Cancelled_ThrowsOperationCanceledAndKeepsPartial()
    {
        _server.StallAfterBytes = 70_000;
        using var cts = new CancellationTokenSource();
        var progress = new RecordingProgress(r =>
        {
            if (r.BytesReceived > 0)
            {
                cts.Cancel();
            }
        });
        using var client = new HubClient(Options());

        Assert.That(
            async () => await client.DownloadFileAsync(Id, "model.safetensors", progress, cts.Token),
            Throws.InstanceOf<OperationCanceledException>());
        Assert.That(File.Exists(Path.Combine(RepoDir, "blobs", _server.EtagOf("model.safetensors") + ".incomplete")), Is.True);
        Assert.That(File.Exists(Path.Combine(RepoDir, "blobs", _server.EtagOf("model.safetensors"))), Is.False);
    }

    [Test]
    public async Task DownloadFileAsync_PythonWrittenCache_ReusedWithoutNetwork()
    {
        // The layout huggingface_hub writes, made by hand: refs/main, blobs/{git sha1}, a relative symlink.
        string commit = "4f4a7b1f0e8d2c3b5a6978877665544332211000";
        byte[] config = _fixture["config.json"];
        string etag = FakeHubServer.GitBlobSha1(config);
        Directory.CreateDirectory(Path.Combine(RepoDir, "refs"));
        Directory.CreateDirectory(Path.Combine(RepoDir, "blobs"));
        Directory.CreateDirectory(Path.Combine(RepoDir, "snapshots", commit));
        File.WriteAllText(Path.Combine(RepoDir, "refs", "main"), commit);
        File.WriteAllBytes(Path.Combine(RepoDir, "blobs", etag), config);
        File.CreateSymbolicLink(Path.Combine(RepoDir, "snapshots", commit, "config.json"), "../../blobs/" + etag);

        using var offline = new HubClient(Options(offline: true));
        string viaRef = await offline.DownloadFileAsync(Id, "config.json");
        using var online = new HubClient(Options());
        string viaCommit = await online.DownloadFileAsync(Id.WithRevision(commit), "config.json");

        string expected = Path.Combine(RepoDir, "snapshots", commit, "config.json");
        Assert.That(viaRef, Is.EqualTo(expected));
        Assert.That(viaCommit, Is.EqualTo(expected));
        Assert.That(File.ReadAllBytes(viaRef), Is.EqualTo(config));
        Assert.That(_server.Requests, Is.Empty, "a cached commit needs no request");
    }

    [Test]
    public async Task ResolveSnapshotAsync_OptionalFileMissing_ReturnsSnapshotAndMarksNoExist()
    {
        using var client = new HubClient(Options());

        string snapshot = await client.ResolveSnapshotAsync(Id, Required, ["tokenizer.json"]);

        Assert.That(Directory.GetFiles(snapshot).Select(Path.GetFileName), Is.EquivalentTo(Required));
        Assert.That(File.Exists(Path.Combine(RepoDir, ".no_exist", _server.Commit, "tokenizer.json")), Is.True);

        using var offline = new HubClient(Options(offline: true));
        Assert.That(await offline.ResolveSnapshotAsync(Id, Required, ["tokenizer.json"]), Is.EqualTo(snapshot));
    }

    [Test]
    public async Task DownloadFileAsync_ConcurrentSameFile_DownloadsOnceAndAllAgree()
    {
        var clients = Enumerable.Range(0, 4).Select(_ => new HubClient(Options())).ToArray();
        try
        {
            string[] paths = await Task.WhenAll(clients.Select(c => Task.Run(() => c.DownloadFileAsync(Id, "model.safetensors"))));

            Assert.That(paths.Distinct().Count(), Is.EqualTo(1));
            Assert.That(File.ReadAllBytes(paths[0]), Is.EqualTo(_fixture["model.safetensors"]));
            Assert.That(_server.CountRequests("GET", "/lfs/"), Is.EqualTo(1), "the lock lets one download run; the others find its blob");
            Assert.That(BlobFiles(), Has.Length.EqualTo(1));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Test]
    public async Task DownloadFileAsync_BlobDeletedBehindSnapshot_DownloadedAgain()
    {
        using var client = new HubClient(Options());
        string path = await client.DownloadFileAsync(Id, "config.json");
        File.Delete(Path.Combine(RepoDir, "blobs", _server.EtagOf("config.json")));

        string again = await client.DownloadFileAsync(Id, "config.json");

        Assert.That(again, Is.EqualTo(path));
        Assert.That(File.ReadAllBytes(again), Is.EqualTo(_fixture["config.json"]));
        Assert.That(_server.CountRequests("GET", "config.json"), Is.EqualTo(2));
    }

    [Test]
    public void DownloadFileAsync_CacheNotWritable_SaysWhichFolder()
    {
        // Tests may run as root, where permissions do not stop writes: a file where blobs/ should be does.
        Directory.CreateDirectory(RepoDir);
        File.WriteAllText(Path.Combine(RepoDir, "blobs"), "not a folder");
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "config.json"));

        Assert.That(ex!.Message, Does.Contain("could not store").And.Contain(RepoDir).And.Contain("HF_HUB_CACHE"));
    }

    [Test]
    public async Task DownloadFileAsync_WeakQuotedEtags_BlobNamedByBareHash()
    {
        _server.WeakEtags = true;
        using var client = new HubClient(Options());

        await client.DownloadFileAsync(Id, "config.json");
        await client.DownloadFileAsync(Id, "model.safetensors");

        Assert.That(BlobFiles().Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            FakeHubServer.GitBlobSha1(_fixture["config.json"]),
            FakeHubServer.Sha256(_fixture["model.safetensors"]),
        }));
    }

    [Test]
    public void DownloadFileAsync_FileOverLimit_RefusesBeforeDownloading()
    {
        using var client = new HubClient(Options() with { MaxFileBytes = 1000 });

        var ex = Assert.ThrowsAsync<ModelHubException>(() => client.DownloadFileAsync(Id, "model.safetensors"));

        Assert.That(ex!.Message, Does.Contain("MaxFileBytes").And.Contain(_fixture["model.safetensors"].Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(_server.CountRequests("GET", "/"), Is.Zero);
    }

    [TestCase("../config.json")]
    [TestCase("/abs/config.json")]
    [TestCase("a//b")]
    [TestCase("a\\b")]
    [TestCase("")]
    public void DownloadFileAsync_UnsafeFilename_ThrowsArgumentException(string filename)
    {
        using var client = new HubClient(Options());

        var ex = Assert.ThrowsAsync<ArgumentException>(() => client.DownloadFileAsync(Id, filename));

        Assert.That(ex!.ParamName, Is.EqualTo("filename"));
        Assert.That(_server.Requests, Is.Empty);
    }

    [Test]
    public void Constructor_RelativeEndpoint_ThrowsNamingHfEndpoint()
    {
        var ex = Assert.Throws<ArgumentException>(() => new HubClient(Options() with { Endpoint = "hub.local" }));

        Assert.That(ex!.Message, Does.Contain("hub.local").And.Contain("HF_ENDPOINT"));
    }

    [TestCase("https://hub.example", "refs/pr/1", "onnx/model.onnx", "https://hub.example/o/n/resolve/refs%2Fpr%2F1/onnx/model.onnx")]
    [TestCase("https://hub.example/mirror/", "main", "a b.json", "https://hub.example/mirror/o/n/resolve/main/a%20b.json")]
    public void ResolveUrl_EscapesRevisionAndKeepsFileFolders(string endpoint, string revision, string file, string expected)
    {
        using var client = new HubClient(Options() with { Endpoint = endpoint });

        Assert.That(client.ResolveUrl(new ModelId("o", "n", revision), file).AbsoluteUri, Is.EqualTo(expected));
    }

    [TestCase("\"abc\"", "abc")]
    [TestCase("W/\"abc\"", "abc")]
    [TestCase("abc", "abc")]
    [TestCase(" W/\"0123abcd\" ", "0123abcd")]
    public void NormalizeEtag_QuotedOrWeak_ReturnsBareValue(string header, string expected) =>
        Assert.That(HubClient.NormalizeEtag(header), Is.EqualTo(expected));

    private static void AssertMonotonicAndComplete(RecordingProgress progress, long total)
    {
        Assert.That(progress.Reports.Select(r => r.BytesReceived), Is.Ordered.Ascending);
        Assert.That(progress.Reports.Select(r => r.BytesReceived).Distinct().Count(), Is.EqualTo(progress.Reports.Count), "strictly increasing");
        Assert.That(progress.Reports[^1].BytesReceived, Is.EqualTo(total));
    }

    /// <summary>Records reports synchronously, in order (unlike <see cref="Progress{T}"/>, which posts them).</summary>
    private sealed class RecordingProgress(Action<DownloadProgress>? onReport = null) : IProgress<DownloadProgress>
    {
        private readonly List<DownloadProgress> _reports = [];

        public List<DownloadProgress> Reports
        {
            get
            {
                lock (_reports)
                {
                    return [.. _reports];
                }
            }
        }

        public void Report(DownloadProgress value)
        {
            lock (_reports)
            {
                _reports.Add(value);
            }

            onReport?.Invoke(value);
        }
    }
}
