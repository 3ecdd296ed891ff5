using System.Text.Json.Nodes;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

/// <summary>Copies fixture folders into fresh temp folders and edits their files for bad-input tests.</summary>
internal sealed class TempCheckpoint : IDisposable
{
    public TempCheckpoint(string fixture)
    {
        Folder = FixturePaths.NewTempFolder();
        foreach (string file in Directory.GetFiles(FixturePaths.Folder(fixture)))
        {
            string name = Path.GetFileName(file);
            if (name is "config.json" or "preprocessor_config.json" or "model.safetensors")
            {
                File.Copy(file, Path.Combine(Folder, name));
            }
        }
    }

    public string Folder { get; }

    public string ConfigPath => Path.Combine(Folder, "config.json");

    public string WeightsPath => Path.Combine(Folder, "model.safetensors");

    public void EditConfig(Action<JsonObject> edit, string file = "config.json")
    {
        string path = Path.Combine(Folder, file);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    /// <summary>Rewrites model.safetensors through <paramref name="edit"/> (name → (shape, data)).</summary>
    public void EditWeights(Action<Dictionary<string, (long[] Shape, float[] Data)>> edit)
    {
        var tensors = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        using (var file = SafeTensorsFile.Open(WeightsPath))
        {
            foreach (var (name, info) in file.Tensors)
            {
                tensors[name] = ([.. info.Shape], file.ReadFloat32(name));
            }
        }

        edit(tensors);
        File.WriteAllBytes(WeightsPath, SafeTensorsWriter.ToBytes(tensors.Select(kv => (kv.Key, kv.Value.Item1, kv.Value.Item2))));
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
