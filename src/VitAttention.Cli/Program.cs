namespace VitAttention.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        return CliApp.Run(args, Console.Out, Console.Error, cancel.Token);
    }
}
