namespace VitAttention;

/// <summary>
/// Base type of every error VitAttention raises on bad input. Messages name the input and say what to do.
/// </summary>
public class VitAttentionException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public VitAttentionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public VitAttentionException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A model file or folder (safetensors, config.json, ONNX) is malformed, unsupported or inconsistent.</summary>
public sealed class ModelFormatException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    public ModelFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ModelFormatException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>An image could not be decoded or exceeds the configured limits.</summary>
public sealed class InvalidImageException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    public InvalidImageException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public InvalidImageException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A model could not be resolved or downloaded from the model hub, or the cache is unusable.</summary>
public sealed class ModelHubException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    public ModelHubException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ModelHubException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The requested execution device (for example CUDA) cannot be used in this process.</summary>
public sealed class DeviceUnavailableException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    public DeviceUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public DeviceUnavailableException(string message, Exception? inner) : base(message, inner) { }
}
