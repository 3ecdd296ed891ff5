using System.Text.Json;

namespace VitAttention.Tests.Evaluation;

/// <summary>The float64 references of make_faithfulness_oracle.py (PyTorch, numpy and SciPy as the papers' code uses them).</summary>
internal static class ProtocolOracle
{
    private static readonly Lazy<JsonDocument> Document = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(FixturePaths.Root, "faithfulness", "oracle.json"))));

    public static JsonElement Root => Document.Value.RootElement;

    public static IEnumerable<TestCaseData> UpsamplingCases() =>
        Root.GetProperty("upsampling").EnumerateArray().Select((c, i) => new TestCaseData(i).SetArgDisplayNames(c.GetProperty("name").GetString() ?? $"case {i}"));

    public static JsonElement Upsampling(int index) => Root.GetProperty("upsampling")[index];

    public static double[] Doubles(this JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetDouble())];

    public static float[] Floats(this JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => (float)v.GetDouble())];

    public static int[] Ints(this JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetInt32())];
}
