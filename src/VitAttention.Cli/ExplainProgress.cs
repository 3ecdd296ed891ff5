using System.Globalization;

namespace VitAttention.Cli;

/// <summary>
/// Progress of <c>explain</c> on standard error: how many images are explained, written and failed. On a terminal one
/// line is redrawn in place; otherwise (a log, a pipe) each written or failed image gets a line of its own.
/// </summary>
internal sealed class ExplainProgress(TextWriter writer, int total, bool interactive)
{
    private const int Cells = 24;
    private readonly Lock _gate = new();
    private int _explained;
    private int _written;
    private int _failed;
    private bool _lineOpen;

    /// <summary>One more image came out of the model.</summary>
    public void Explained()
    {
        lock (_gate)
        {
            _explained++;
            Draw();
        }
    }

    /// <summary>One more image's files are on disk.</summary>
    public void Written(string source, FigurePaths paths)
    {
        lock (_gate)
        {
            _written++;
            if (interactive)
            {
                Draw();
            }
            else
            {
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{_written + _failed}/{total}] wrote {source} -> {Path.ChangeExtension(paths.Json, null)}.*"));
                writer.Flush();
            }
        }
    }

    /// <summary>One more image could not be read (explain --keep-going goes on).</summary>
    public void Failed(ExplainFailure failure)
    {
        lock (_gate)
        {
            _failed++;
            EndLine();
            string message = string.Join(' ', failure.Error.Message.ReplaceLineEndings(" ").Split(' ', StringSplitOptions.RemoveEmptyEntries));
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_written + _failed}/{total}] failed {failure.Source}: {message}"));
            writer.Flush();
            Draw();
        }
    }

    /// <summary>Ends the redrawn line, if one is open.</summary>
    public void Finish()
    {
        lock (_gate)
        {
            EndLine();
        }
    }

    private void Draw()
    {
        if (!interactive)
        {
            return;
        }

        int done = _written + _failed;
        int filled = total == 0 ? Cells : Math.Min(Cells, done * Cells / total);
        string failed = _failed > 0 ? string.Create(CultureInfo.InvariantCulture, $", {_failed} failed") : "";
        writer.Write(string.Create(CultureInfo.InvariantCulture,
            $"\rexplaining [{new string('#', filled)}{new string('.', Cells - filled)}] {_explained}/{total} explained, {_written} written{failed}   "));
        writer.Flush();
        _lineOpen = true;
    }

    private void EndLine()
    {
        if (_lineOpen)
        {
            writer.WriteLine();
            _lineOpen = false;
        }
    }
}
