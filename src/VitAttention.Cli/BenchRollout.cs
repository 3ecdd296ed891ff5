using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using VitAttention.Inference;
using VitAttention.Rollout;

namespace VitAttention.Cli;

/// <summary>
/// <c>vit-attention bench rollout [--layers 12] [--heads 12] [--tokens 197] [--threads N] [--json]</c>: a quick in-process timing
/// of the rollout engine on seeded random row-stochastic data (medians after warm-up). Not a substitute for the
/// BenchmarkDotNet suite in benchmarks/, which is what the published numbers come from.
/// </summary>
internal static class BenchRollout
{
    private const double TargetSeconds = 0.4;

    /// <summary>Times full rollout, row rollout, the memory floor and the scalar path for one shape.</summary>
    /// <param name="layers">Layers in the stack.</param>
    /// <param name="heads">Heads per layer.</param>
    /// <param name="tokens">Tokens per head matrix.</param>
    /// <param name="threads">What the full matrix may use (<see cref="RolloutOptions.MaxDegreeOfParallelism"/>).</param>
    /// <exception cref="ArgumentException">A dimension is not positive.</exception>
    public static BenchRolloutResult Run(int layers, int heads, int tokens, int threads)
    {
        var shape = new AttentionShape(layers, 1, heads, tokens);
        shape.Validate();
        float[] stack = CreateStack(shape, seed: 2020);
        var matrix = new float[tokens * tokens];
        var row = new float[tokens];
        var engine = new RolloutEngine();
        var scalar = new RolloutEngine(Rollout.Kernels.SimdWidth.Scalar);
        RolloutOptions options = RolloutOptions.Default with { MaxDegreeOfParallelism = threads };

        double full = Median(() => engine.RolloutMatrix(stack, shape, 0, options, matrix));
        double rowMs = Median(() => engine.RolloutRow(stack, shape, 0, options, row));
        float sink = 0;
        double floor = Median(() => sink += TensorPrimitives.Sum<float>(stack));
        double scalarMs = Median(() => scalar.RolloutMatrix(stack, shape, 0, options with { MaxDegreeOfParallelism = 1 }, matrix), maxRuns: 5);

        const int calls = 20;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < calls; i++)
        {
            engine.RolloutMatrix(stack, shape, 0, options, matrix);
            engine.RolloutRow(stack, shape, 0, options, row);
        }

        double allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)calls;
        GC.KeepAlive(sink);
        return new BenchRolloutResult(layers, heads, tokens, full, rowMs, floor, scalarMs, allocated, threads);
    }

    /// <summary>The result as one line of JSON: <c>{"layers":…,"heads":…,"tokens":…,"fullMs":…,"rowMs":…,"floorMs":…,"scalarMs":…,"allocatedBytesPerCall":…}</c>.</summary>
    public static string ToJson(BenchRolloutResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteNumber("layers", result.Layers);
            writer.WriteNumber("heads", result.Heads);
            writer.WriteNumber("tokens", result.Tokens);
            writer.WriteNumber("fullMs", Math.Round(result.FullMs, 4));
            writer.WriteNumber("rowMs", Math.Round(result.RowMs, 4));
            writer.WriteNumber("floorMs", Math.Round(result.FloorMs, 4));
            writer.WriteNumber("scalarMs", Math.Round(result.ScalarMs, 4));
            writer.WriteNumber("allocatedBytesPerCall", Math.Round(result.AllocatedBytesPerCall, 1));
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A human-readable summary for the console.</summary>
    public static string ToText(BenchRolloutResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return $"rollout {result.Layers} layers × {result.Heads} heads × {result.Tokens} tokens (medians): " +
            $"full {result.FullMs:F3} ms ({Math.Min(Math.Min(result.Threads, Environment.ProcessorCount), 2)} thread(s)), row {result.RowMs:F3} ms, memory floor {result.FloorMs:F3} ms, scalar full {result.ScalarMs:F3} ms " +
            $"({result.ScalarMs / result.FullMs:F1}× slower), row/floor {result.RowMs / result.FloorMs:F2}, " +
            $"allocated {result.AllocatedBytesPerCall:F0} B per call";
    }

    // Rows of random positive values normalised to sum 1, [layer, 1, head, tokens, tokens].
    private static float[] CreateStack(AttentionShape shape, int seed)
    {
        var random = new Random(seed);
        var data = new float[shape.TotalLength];
        int n = shape.Tokens;
        for (long offset = 0; offset < data.LongLength; offset += n)
        {
            Span<float> row = data.AsSpan((int)offset, n);
            for (int j = 0; j < n; j++)
            {
                row[j] = MathF.Exp(4f * random.NextSingle());
            }

            TensorPrimitives.Divide(row, TensorPrimitives.Sum<float>(row), row);
        }

        return data;
    }

    // Median wall time in ms of an action, after one warm-up run, over up to maxRuns runs or ~TargetSeconds.
    private static double Median(Action action, int maxRuns = 201)
    {
        action();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < maxRuns && (times.Count < 5 || total.Elapsed.TotalSeconds < TargetSeconds))
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        times.Sort();
        return times[times.Count / 2];
    }
}
