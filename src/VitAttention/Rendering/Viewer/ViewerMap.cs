namespace VitAttention.Rendering.Viewer;

/// <summary>
/// A map a method computed in the library (rollout, and the methods of ExplainOptions.Method), shown as it is: it does not
/// change with the token, layer or head the viewer has selected.
/// </summary>
/// <param name="Method">The method's name, as the method picker lists it (e.g. "rollout").</param>
/// <param name="ClassIndex">The target class for a class-specific method; null for a class-agnostic one.</param>
/// <param name="ClassLabel">The target class's name; null for a class-agnostic method.</param>
/// <param name="Values">The map over the patch grid, row-major, <c>gridHeight × gridWidth</c>.</param>
/// <param name="Description">How it was computed (options), shown under the picture; optional.</param>
internal sealed record ViewerMap(string Method, int? ClassIndex, string? ClassLabel, float[] Values, string? Description = null);
