using System.Diagnostics;
using System.Globalization;
using VitAttention.Hub;

namespace VitAttention.Cli;

/// <summary>
/// Shows model download progress on standard error: a bar redrawn in place when standard error is a terminal,
/// otherwise a few plain lines per file (start, each quarter, done), so logs stay readable.
/// </summary>
/// <remarks>Thread-safe. Reports are expected in order, as <see cref="HubClient"/> makes them.</remarks>
internal sealed class ProgressBar : IProgress<DownloadProgress>
{
    private const int BarCells = 24;
    private static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);
    private const long UnknownSizeLineBytes = 64L << 20;

    private readonly TextWriter _writer;
    private readonly bool _interactive;
    private readonly int _width;
    private readonly Lock _gate = new();
    private readonly Stopwatch _clock = new();
    private string? _file;
    private TimeSpan _lastDraw;
    private long _fileStartBytes;
    private int _lastQuarter;
    private long _lastPlainBytes;
    private bool _lineOpen;

    /// <summary>Draws on <see cref="Console.Error"/>; as a bar only when standard error is not redirected.</summary>
    public ProgressBar()
        : this(Console.Error, interactive: !Console.IsErrorRedirected, width: TerminalWidth())
    {
    }

    /// <summary>Draws on <paramref name="writer"/>.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="interactive">True: redraw one line with '\r' (a terminal); false: occasional plain lines.</param>
    /// <param name="width">Columns available for the bar line; at least 40 is used.</param>
    public ProgressBar(TextWriter writer, bool interactive, int width = 80)
    {
        ArgumentNullException.ThrowIfNull(writer);
        _writer = writer;
        _interactive = interactive;
        _width = Math.Max(40, width);
    }

    /// <summary>Shows one progress report.</summary>
    /// <param name="value">The file, bytes so far and size.</param>
    public void Report(DownloadProgress value)
    {
        lock (_gate)
        {
            bool newFile = !string.Equals(value.File, _file, StringComparison.Ordinal);
            if (newFile)
            {
                EndLine();
                _file = value.File;
                _clock.Restart();
                _lastDraw = TimeSpan.Zero;
                _fileStartBytes = value.BytesReceived;
                _lastQuarter = 0;
                _lastPlainBytes = value.BytesReceived;
            }

            bool done = value.TotalBytes is long total && value.BytesReceived >= total;
            if (_interactive)
            {
                DrawBar(value, force: newFile || done);
                if (done)
                {
                    EndLine();
                    _file = null;
                }
            }
            else
            {
                WritePlain(value, newFile, done);
                if (done)
                {
                    _file = null;
                }
            }
        }
    }

    /// <summary>Ends a bar line left open (for a download that failed or stopped before its end).</summary>
    public void Finish()
    {
        lock (_gate)
        {
            EndLine();
            _file = null;
        }
    }

    private void DrawBar(DownloadProgress value, bool force)
    {
        TimeSpan now = _clock.Elapsed;
        if (!force && now - _lastDraw < RedrawInterval)
        {
            return;
        }

        _lastDraw = now;
        string sizes = value.TotalBytes is long total ? $"{FormatBytes(value.BytesReceived)}/{FormatBytes(total)}" : FormatBytes(value.BytesReceived);
        string bar;
        if (value.Fraction is double fraction)
        {
            int filled = (int)Math.Round(fraction * BarCells);
            bar = string.Create(CultureInfo.InvariantCulture, $"[{new string('#', filled)}{new string('.', BarCells - filled)}] {fraction * 100,3:0}%");
        }
        else
        {
            bar = "[" + new string('?', BarCells) + "]     ";
        }

        double seconds = now.TotalSeconds;
        string speed = seconds > 0.2 ? $"  {FormatBytes((long)((value.BytesReceived - _fileStartBytes) / seconds))}/s" : "";
        string tail = $" {bar}  {sizes}{speed}";
        int nameRoom = Math.Max(8, _width - 1 - tail.Length);
        string name = value.File.Length <= nameRoom ? value.File.PadRight(nameRoom) : "…" + value.File[^(nameRoom - 1)..];
        string line = (name + tail).PadRight(_width - 1);
        _writer.Write("\r" + line);
        _writer.Flush();
        _lineOpen = true;
    }

    private void WritePlain(DownloadProgress value, bool newFile, bool done)
    {
        if (newFile)
        {
            string size = value.TotalBytes is long total ? FormatBytes(total) : "size unknown";
            string resumed = value.BytesReceived > 0 && !done ? $", resuming at {FormatBytes(value.BytesReceived)}" : "";
            _writer.WriteLine($"downloading {value.File} ({size}{resumed})");
        }

        if (done)
        {
            _writer.WriteLine($"downloaded {value.File} ({FormatBytes(value.BytesReceived)})");
        }
        else if (value.Fraction is double fraction)
        {
            int quarter = (int)(fraction * 4);
            if (quarter > _lastQuarter && quarter < 4)
            {
                _lastQuarter = quarter;
                _writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {value.File}: {quarter * 25}% ({FormatBytes(value.BytesReceived)} of {FormatBytes(value.TotalBytes!.Value)})"));
            }
        }
        else if (value.BytesReceived - _lastPlainBytes >= UnknownSizeLineBytes)
        {
            _lastPlainBytes = value.BytesReceived;
            _writer.WriteLine($"  {value.File}: {FormatBytes(value.BytesReceived)}");
        }

        _writer.Flush();
    }

    private void EndLine()
    {
        if (_lineOpen)
        {
            _writer.WriteLine();
            _writer.Flush();
            _lineOpen = false;
        }
    }

    /// <summary>Bytes as B, KB, MB or GB (powers of 1024), one decimal from KB on.</summary>
    /// <param name="bytes">A byte count.</param>
    /// <returns>For example <c>512 B</c>, <c>1.5 KB</c>, <c>330.2 MB</c>.</returns>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    private static int TerminalWidth()
    {
        try
        {
            return Console.IsErrorRedirected ? 80 : Console.WindowWidth;
        }
        catch (Exception ex) when (ex is IOException or PlatformNotSupportedException or InvalidOperationException)
        {
            return 80;
        }
    }
}
