namespace VitAttention.Tests;

/// <summary>Where the oracle fixtures and sample photos are in the test output folder.</summary>
internal static class FixturePaths
{
    public static string Root => Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures");

    public static string HfFolder => Path.Combine(Root, "tiny-vit-hf");

    public static string TimmFolder => Path.Combine(Root, "tiny-vit-timm");

    public static string Folder(string name) => Path.Combine(Root, name);

    public static string Expected(string name) => Path.Combine(Root, name, "expected.safetensors");

    public static string Image(string file) => Path.Combine(TestContext.CurrentContext.TestDirectory, "Images", file);

    /// <summary>A fresh empty folder under the system temp folder, removed by the caller.</summary>
    public static string NewTempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "vitattention-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
