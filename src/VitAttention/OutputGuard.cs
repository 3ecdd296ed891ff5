namespace VitAttention;

/// <summary>
/// Refuses to write a file over one that was read: the weights, configs and ONNX files of the model, the images
/// being explained. Paths are compared as files (<see cref="FileIdentity"/>), so a relative path, <c>..</c>, a
/// symbolic link or a hard link to an input is caught as surely as its exact spelling.
/// </summary>
internal static class OutputGuard
{
    /// <summary>The first of <paramref name="inputs"/> that <paramref name="output"/> would write over, or null.</summary>
    /// <param name="output">A file about to be written (it may not exist yet: then it overwrites nothing).</param>
    /// <param name="inputs">The files read.</param>
    /// <returns>The input's path as given, or null.</returns>
    public static string? Clash(string output, IEnumerable<string> inputs)
    {
        if (FileIdentity.Of(output) is not { } target)
        {
            return null;
        }

        foreach (string input in inputs)
        {
            if (FileIdentity.Of(input) is { } source ? source == target : FileIdentity.SameFile(output, input))
            {
                return input;
            }
        }

        return null;
    }

    /// <summary>Throws when <paramref name="output"/> is one of <paramref name="inputs"/>.</summary>
    /// <param name="output">A file about to be written.</param>
    /// <param name="inputs">The files read.</param>
    /// <param name="what">What the inputs are, for the message ("the model", "the input images").</param>
    /// <exception cref="ArgumentException">The output is an input; the message names both and says to choose another path.</exception>
    public static void Refuse(string output, IEnumerable<string> inputs, string what)
    {
        if (Clash(output, inputs) is { } input)
        {
            throw new InputOverwriteException(
                $"refusing to write '{output}': it is '{input}', a file of {what} that was read (the same file by another " +
                "path, link or hard link); nothing was written. Choose another output path.");
        }
    }
}

/// <summary>An output path is one of the inputs; nothing was written.</summary>
internal sealed class InputOverwriteException(string message) : ArgumentException(message);
