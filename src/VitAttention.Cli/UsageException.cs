namespace VitAttention.Cli;

/// <summary>A command-line mistake: printed as one line with the usage hint, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
