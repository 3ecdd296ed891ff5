namespace VitAttention;

/// <summary>The requested execution device (for example CUDA) cannot be used in this process.</summary>
public sealed class DeviceUnavailableException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    public DeviceUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    /// <param name="inner">The error that caused it, or null.</param>
    public DeviceUnavailableException(string message, Exception? inner) : base(message, inner) { }
}
