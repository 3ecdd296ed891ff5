using VitAttention.Loading;

namespace VitAttention.Tests;

/// <summary>
/// Runs once around every test of the assembly: graphs built from checkpoints go to a fresh cache folder of the test
/// run (VITATTENTION_CACHE), never to the user's own cache, and the folder is removed at the end.
/// </summary>
[SetUpFixture]
public sealed class TestEnvironment
{
    private string? _previous;

    /// <summary>The test run's prepared-model cache.</summary>
    public static string CacheFolder { get; private set; } = "";

    [OneTimeSetUp]
    public void UseOwnCache()
    {
        _previous = Environment.GetEnvironmentVariable(PreparedModelCache.EnvironmentVariable);
        CacheFolder = FixturePaths.NewTempFolder();
        Environment.SetEnvironmentVariable(PreparedModelCache.EnvironmentVariable, CacheFolder);
    }

    [OneTimeTearDown]
    public void RemoveOwnCache()
    {
        AttentionRollout.Clear();
        Environment.SetEnvironmentVariable(PreparedModelCache.EnvironmentVariable, _previous);
        try
        {
            Directory.Delete(CacheFolder, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on a slow file system: the temp folder is cleaned by the system.
        }
    }
}
