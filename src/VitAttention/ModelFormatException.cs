namespace VitAttention;

/// <summary>A model file or folder (safetensors, config.json, ONNX) is malformed, unsupported or inconsistent.</summary>
public sealed class ModelFormatException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    public ModelFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    /// <param name="inner">The error that caused it, or null.</param>
    public ModelFormatException(string message, Exception? inner) : base(message, inner) { }
}
