using System.Text.Json;
using System.Text.Json.Serialization;

namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>What <c>window.vitViewer.state()</c> returns: the selection and the numbers on show.</summary>
internal sealed class ViewerState
{
    public static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    public string Method { get; set; } = "";
    public string Direction { get; set; } = "";
    public int Layer { get; set; }

    /// <summary>One-based head number, or "mean", "max", "min".</summary>
    [JsonPropertyName("head")]
    public JsonElement HeadValue { get; set; }

    [JsonIgnore]
    public string Head => HeadValue.ValueKind == JsonValueKind.Number ? HeadValue.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : HeadValue.GetString()!;
    public int Token { get; set; }
    public int SelectedToken { get; set; }
    public int? HoveredToken { get; set; }
    public int? ClassIndex { get; set; }
    public string Colormap { get; set; } = "";
    public double Alpha { get; set; }
    public bool Smooth { get; set; }

    /// <summary>The vector over every token (prefix included) behind the picture; null for a library map.</summary>
    public double[]? Values { get; set; }

    /// <summary>The patch values the picture shows, row-major over the grid.</summary>
    public double[] Map { get; set; } = [];
    public double Min { get; set; }
    public double Max { get; set; }
    public int Renders { get; set; }
    public double RenderMs { get; set; }
    public double GridMs { get; set; }
    public double DecodeMs { get; set; }
}
