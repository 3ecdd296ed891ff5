using VitAttention.Cli;

namespace VitAttention.Tests.Cli;

/// <summary>
/// <c>vit-attention</c> run in the test's own process through <see cref="CliApp.Run"/>, its output captured
/// (<see cref="CliProcess"/> starts the real program, for signals and exit codes end to end).
/// </summary>
internal static class InProcessCli
{
    /// <summary>Runs the command line <paramref name="args"/>; its exit code, standard output and standard error.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
