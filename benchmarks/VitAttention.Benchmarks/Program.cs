using BenchmarkDotNet.Running;

namespace VitAttention.Benchmarks;

internal static class Program
{
    private static void Main(string[] args)
    {
        if (args is ["gradients-interleaved", ..])
        {
            Gradients.InterleavedGradients.Run(args[1..]);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
