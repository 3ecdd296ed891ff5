namespace VitAttention.Inference;

/// <summary>One class the model predicted.</summary>
/// <param name="Index">The class index.</param>
/// <param name="Label">The class name from the model's config (<c>id2label</c> / <c>label_names</c>), or <c>class {index}</c>.</param>
/// <param name="Probability">The softmax probability, in [0, 1].</param>
public sealed record Prediction(int Index, string Label, float Probability);
