namespace VitAttention;

/// <summary>
/// Base type of every error VitAttention raises on bad input. Messages name the input and say what to do.
/// </summary>
public class VitAttentionException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    public VitAttentionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    /// <param name="inner">The error that caused it, or null.</param>
    public VitAttentionException(string message, Exception? inner) : base(message, inner) { }
}
