namespace VitAttention;

/// <summary>An image could not be decoded or exceeds the configured limits.</summary>
public sealed class InvalidImageException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    public InvalidImageException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    /// <param name="inner">The error that caused it, or null.</param>
    public InvalidImageException(string message, Exception? inner) : base(message, inner) { }
}
