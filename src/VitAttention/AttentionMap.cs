namespace VitAttention;

/// <summary>
/// Values over the model's patch grid, row-major (index = row · <see cref="Width"/> + column): one per patch,
/// prefix tokens (CLS, distillation, registers) dropped. Values are as computed, before any display scaling.
/// </summary>
public sealed class AttentionMap
{
    private readonly float[] _values;

    /// <summary>Creates a map over a <paramref name="height"/> × <paramref name="width"/> grid; the values are copied.</summary>
    /// <param name="height">Rows of the grid.</param>
    /// <param name="width">Columns of the grid.</param>
    /// <param name="values">height × width values, row-major.</param>
    /// <exception cref="ArgumentException">The grid is empty or the value count is not height × width.</exception>
    public AttentionMap(int height, int width, ReadOnlySpan<float> values)
    {
        if (height <= 0 || width <= 0)
        {
            throw new ArgumentException($"An attention map needs a positive grid size, got {height}×{width}.", nameof(height));
        }

        if (values.Length != checked(height * width))
        {
            throw new ArgumentException(
                $"An attention map over a {height}×{width} grid needs {height * width} values, got {values.Length}.", nameof(values));
        }

        Height = height;
        Width = width;
        _values = values.ToArray();
    }

    /// <summary>Rows of the patch grid (14 for ViT-B/16 at 224 px).</summary>
    public int Height { get; }

    /// <summary>Columns of the patch grid.</summary>
    public int Width { get; }

    /// <summary>The values, row-major.</summary>
    public ReadOnlySpan<float> Values => _values;

    /// <summary>The value at a grid cell.</summary>
    public float this[int row, int column] => _values[(row * Width) + column];

    /// <summary>A copy of the values, row-major.</summary>
    public float[] ToArray() => (float[])_values.Clone();
}
