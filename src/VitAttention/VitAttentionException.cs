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
