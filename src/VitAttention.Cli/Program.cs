using System.Runtime.InteropServices;

namespace VitAttention.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();

        // The first Ctrl+C (SIGINT) or SIGTERM asks the command to stop after the image it is writing: finished
        // images keep their files. A second Ctrl+C ends the process at once.
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = !cancel.IsCancellationRequested;
            cancel.Cancel();
        };
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancel.Cancel();
        });
        return CliApp.Run(args, Console.Out, Console.Error, cancel.Token);
    }
}
