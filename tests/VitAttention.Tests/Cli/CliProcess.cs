using System.Diagnostics;
using System.Text;

namespace VitAttention.Tests.Cli;

/// <summary>The real <c>vit-attention</c> program, started as a process (for signals and exit codes end to end).</summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _gate = new();

    public CliProcess(params string[] args)
    {
        string dll = Path.Combine(TestContext.CurrentContext.TestDirectory, "vit-attention.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Stdout
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>
    /// Sends SIGINT, as Ctrl+C in a terminal does. A test run started as a background job of a non-interactive shell
    /// (<c>cmd &amp;</c>) has SIGINT ignored, and the child inherits that: no Ctrl+C can reach it, by POSIX design, and
    /// .NET keeps the inherited disposition. Then this sends SIGTERM, which the command handles the same way (finish
    /// the image being written, keep the finished ones, exit 125), and says so in the test output.
    /// </summary>
    public void Interrupt()
    {
        string signal = SigIntIgnoredByThisProcess() ? "-TERM" : "-INT";
        if (signal == "-TERM")
        {
            TestContext.Out.WriteLine("SIGINT is ignored by this test run (started as a background job); interrupting with SIGTERM.");
        }

        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>True when /proc/self/status lists SIGINT (signal 2, bit 1) among the ignored signals.</summary>
    private static bool SigIntIgnoredByThisProcess()
    {
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && (ulong.Parse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) & 0x2) != 0;
    }

    /// <summary>Waits for the exit; the exit code, or null when it did not end in time (it is then killed).</summary>
    public int? WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            return null;
        }

        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private void Append(StringBuilder target, string? line)
    {
        if (line is not null)
        {
            lock (_gate)
            {
                target.AppendLine(line);
            }
        }
    }
}
