namespace VitAttention;

/// <summary>A model could not be resolved or downloaded from the model hub, or the cache is unusable.</summary>
public sealed class ModelHubException : VitAttentionException
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    public ModelHubException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong, naming the input and what to do.</param>
    /// <param name="inner">The error that caused it, or null.</param>
    public ModelHubException(string message, Exception? inner) : base(message, inner) { }
}
