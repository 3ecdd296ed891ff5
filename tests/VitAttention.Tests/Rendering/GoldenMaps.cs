using System.Text.Json;

namespace VitAttention.Tests.Rendering;

/// <summary>The seeded maps that make_golden.py drew, read from Golden/maps.json.</summary>
internal static class GoldenMaps
{
    private static readonly Lazy<Dictionary<string, AttentionMap>> Maps = new(Load);

    public static AttentionMap Get(string name) => Maps.Value[name];

    private static Dictionary<string, AttentionMap> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenImage.GoldenDirectory, "maps.json")));
        var maps = new Dictionary<string, AttentionMap>();
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            int h = entry.Value.GetProperty("height").GetInt32();
            int w = entry.Value.GetProperty("width").GetInt32();
            var values = entry.Value.GetProperty("values").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
            maps[entry.Name] = new AttentionMap(h, w, values);
        }

        return maps;
    }
}
