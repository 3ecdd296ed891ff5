namespace VitAttention;

/// <summary>A model file or folder (safetensors, config.json, ONNX) is malformed, unsupported or inconsistent.</summary>
public sealed class ModelFormatException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    public ModelFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ModelFormatException(string message, Exception? inner) : base(message, inner) { }
}
