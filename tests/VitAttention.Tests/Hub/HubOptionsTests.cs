using VitAttention.Hub;

namespace VitAttention.Tests.Hub;

/// <summary>HubOptions.FromEnvironment over a fake variable table, so no test depends on the machine's environment.</summary>
public class HubOptionsTests
{
    private const string Home = "/home/someone";

    private static HubOptions FromTable(params (string Name, string Value)[] variables)
    {
        var table = variables.ToDictionary(v => v.Name, v => v.Value);
        return HubOptions.FromEnvironment(name => table.GetValueOrDefault(name), Home);
    }

    [Test]
    public void FromEnvironment_NothingSet_UsesPublicHubAndUserCache()
    {
        var options = FromTable();

        Assert.That(options.Endpoint, Is.EqualTo(HubOptions.DefaultEndpoint));
        Assert.That(options.CacheDirectory, Is.EqualTo(Path.Combine(Home, ".cache", "huggingface", "hub")));
        Assert.That(options.Offline, Is.False);
        Assert.That(options.Token, Is.Null);
    }

    [Test]
    public void FromEnvironment_HfHubCacheSet_WinsOverHfHome()
    {
        var options = FromTable(("HF_HUB_CACHE", "/data/hub"), ("HF_HOME", "/data/hf"));

        Assert.That(options.CacheDirectory, Is.EqualTo("/data/hub"));
    }

    [Test]
    public void FromEnvironment_HfHomeSet_CacheIsItsHubFolder()
    {
        Assert.That(FromTable(("HF_HOME", "/data/hf")).CacheDirectory, Is.EqualTo(Path.Combine("/data/hf", "hub")));
        Assert.That(FromTable(("XDG_CACHE_HOME", "/xdg")).CacheDirectory, Is.EqualTo(Path.Combine("/xdg", "huggingface", "hub")));
        Assert.That(FromTable(("HF_HUB_CACHE", "~/hub")).CacheDirectory, Is.EqualTo(Path.Combine(Home, "hub")));
    }

    [Test]
    public void FromEnvironment_EndpointAndToken_Read()
    {
        var options = FromTable(("HF_ENDPOINT", "http://127.0.0.1:8080/"), ("HF_TOKEN", " hf_abc "), ("HF_HUB_DOWNLOAD_TIMEOUT", "2.5"));

        Assert.That(options.Endpoint, Is.EqualTo("http://127.0.0.1:8080"));
        Assert.That(options.Token, Is.EqualTo("hf_abc"));
        Assert.That(options.HttpTimeout, Is.EqualTo(TimeSpan.FromSeconds(2.5)));
    }

    [Test]
    public void FromEnvironment_TokenFileUnderHfHome_Read()
    {
        string home = Path.Combine(Path.GetTempPath(), "vit-attention-hf-home-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        try
        {
            File.WriteAllText(Path.Combine(home, "token"), "hf_from_file\n");

            Assert.That(FromTable(("HF_HOME", home)).Token, Is.EqualTo("hf_from_file"));
            Assert.That(FromTable(("HF_HOME", home), ("HF_TOKEN", "hf_env")).Token, Is.EqualTo("hf_env"), "HF_TOKEN wins");
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [TestCase("1", true)]
    [TestCase("true", true)]
    [TestCase("TRUE", true)]
    [TestCase("yes", true)]
    [TestCase("On", true)]
    [TestCase("0", false)]
    [TestCase("false", false)]
    [TestCase("no", false)]
    [TestCase("", false)]
    public void FromEnvironment_HfHubOffline_ReadAsBoolean(string value, bool expected) =>
        Assert.That(FromTable(("HF_HUB_OFFLINE", value)).Offline, Is.EqualTo(expected));

    [Test]
    public void With_ChangesOneOption_KeepsOthers()
    {
        var options = FromTable(("HF_ENDPOINT", "http://127.0.0.1:1")) with { Offline = true };

        Assert.That(options.Offline, Is.True);
        Assert.That(options.Endpoint, Is.EqualTo("http://127.0.0.1:1"));
    }
}
