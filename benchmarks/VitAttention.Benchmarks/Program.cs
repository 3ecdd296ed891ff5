using BenchmarkDotNet.Running;
using VitAttention.Benchmarks.Loading;

namespace VitAttention.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args is ["gradients-interleaved", ..])
        {
            Gradients.InterleavedGradients.Run(args[1..]);
            return 0;
        }

        if (args is ["load-probe", ..])
        {
            return LoadProbe.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
