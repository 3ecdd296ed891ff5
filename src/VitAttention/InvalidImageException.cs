namespace VitAttention;

/// <summary>An image could not be decoded or exceeds the configured limits.</summary>
public sealed class InvalidImageException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    public InvalidImageException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public InvalidImageException(string message, Exception? inner) : base(message, inner) { }
}
