namespace VitAttention.Rendering.Viewer;

/// <summary>One of the model's top classes as the viewer lists it.</summary>
/// <param name="Index">The class index.</param>
/// <param name="Label">The class name.</param>
/// <param name="Probability">Softmax probability, 0..1.</param>
internal sealed record ViewerPrediction(int Index, string Label, float Probability);
