using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// Runs mutated inputs through a real entry point, each on a worker with a time bound, and sorts the outcomes into
/// classes. Allowed: success, a <see cref="VitAttentionException"/> whose message names the input, a plain
/// <see cref="ArgumentException"/>, or <see cref="OperationCanceledException"/>. Anything else (NullReference,
/// IndexOutOfRange, Overflow, OutOfMemory, InvalidCast, a protobuf or ONNX Runtime exception leaking, a hang) is a
/// failure that names the seed and the edits, so it can be replayed with
/// <c>VITATTENTION_FUZZ_SEED=&lt;seed&gt; VITATTENTION_FUZZ_CASES=1</c>.
/// </summary>
internal sealed class FuzzHarness
{
    /// <summary>Environment variable: cases per format (default: the quick CI subset of each test).</summary>
    public const string CasesVariable = "VITATTENTION_FUZZ_CASES";

    /// <summary>Environment variable: the first seed (default 20261129); case i uses seed + i.</summary>
    public const string SeedVariable = "VITATTENTION_FUZZ_SEED";

    /// <summary>Environment variable: the time bound of one case in seconds (default 60, generous for a loaded machine).</summary>
    public const string CaseSecondsVariable = "VITATTENTION_FUZZ_CASE_SECONDS";

    /// <summary>Environment variable: a file the summary line of every run is appended to.</summary>
    public const string ReportVariable = "VITATTENTION_FUZZ_REPORT";

    private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _examples = new(StringComparer.Ordinal);
    private readonly List<string> _failures = [];

    public FuzzHarness(FuzzFormat format) => Format = format;

    public FuzzFormat Format { get; }

    public IReadOnlyDictionary<string, int> Outcomes => _outcomes;

    public IReadOnlyList<string> Failures => _failures;

    public static int Cases(int quick) =>
        int.TryParse(Environment.GetEnvironmentVariable(CasesVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : quick;

    public static int BaseSeed =>
        int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : 20261129;

    public static TimeSpan CaseLimit =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable(CaseSecondsVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 60);

    /// <summary>Runs <paramref name="cases"/> cases; <paramref name="exercise"/> gets the bytes and the name the messages must carry.</summary>
    public void Run(int cases, Func<int, Mutated> make, Action<Mutated, string> exercise, string testName)
    {
        int seed0 = BaseSeed;
        TimeSpan limit = CaseLimit;
        string current = Path.Combine(Path.GetTempPath(), $"vitattention-fuzz-current-{Format}-{Environment.ProcessId}.txt");
        var clock = Stopwatch.StartNew();
        TimeSpan slowest = TimeSpan.Zero;
        for (int i = 0; i < cases; i++)
        {
            int seed = seed0 + i;
            Mutated input = make(seed);
            string name = $"fuzz-{Format.ToString().ToLowerInvariant()}-{seed}";
            string replay = $"{Format} seed {seed} [{input.Describe()}]; replay: {SeedVariable}={seed} {CasesVariable}=1 dotnet test --filter {testName}";

            // Left behind if the process dies in native code (ORT, Skia): names the case that killed it.
            File.WriteAllText(current, replay);
            var one = Stopwatch.StartNew();
            var task = Task.Run(() => exercise(input, name));
            bool finished;
            try
            {
                finished = task.Wait(limit);
            }
            catch (AggregateException)
            {
                finished = true;
            }

            slowest = one.Elapsed > slowest ? one.Elapsed : slowest;
            if (!finished)
            {
                _failures.Add($"HANG (> {limit.TotalSeconds} s): {replay}");
                break; // the worker cannot be stopped; do not pile more on it
            }

            Classify(task.Exception?.InnerException, name, replay);
        }

        File.Delete(current);
        string summary = $"{Format}: {cases} cases in {clock.Elapsed.TotalSeconds:F1} s (slowest case {slowest.TotalMilliseconds:F0} ms), seeds {seed0}..{seed0 + cases - 1}; " +
            string.Join(", ", _outcomes.Select(kv => $"{kv.Key} {kv.Value}")) + $"; failures {_failures.Count}";
        TestContext.Out.WriteLine(summary);
        foreach (var (cls, example) in _examples)
        {
            TestContext.Out.WriteLine($"  e.g. {cls}: {example}");
        }

        if (Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 } report)
        {
            var text = new StringBuilder(summary).AppendLine();
            foreach (var (cls, example) in _examples)
            {
                text.Append("  e.g. ").Append(cls).Append(": ").AppendLine(example);
            }

            foreach (string failure in _failures)
            {
                text.Append("  FAIL ").AppendLine(failure);
            }

            File.AppendAllText(report, text.ToString());
        }
    }

    /// <summary>Fails the test listing up to ten failures.</summary>
    public void AssertNoFailures() =>
        Assert.That(_failures, Is.Empty, $"{_failures.Count} fuzz case(s) escaped the documented exception types:{Environment.NewLine}" +
            string.Join(Environment.NewLine, _failures.Take(10)));

    private void Classify(Exception? error, string name, string replay)
    {
        string cls;
        bool allowed;
        switch (error)
        {
            case null:
                cls = "success";
                allowed = true;
                break;
            case VitAttentionException vit:
                cls = vit.GetType().Name;
                allowed = vit.Message.Contains(name, StringComparison.Ordinal);
                if (!allowed)
                {
                    cls += " (message does not name the input)";
                }
                else if (vit.Message.Contains('\n', StringComparison.Ordinal))
                {
                    cls += " (multi-line message)"; // allowed, but the CLI promises one line: counted to be reported
                }

                break;
            case OperationCanceledException:
                cls = "OperationCanceledException";
                allowed = true;
                break;
            case ArgumentException arg when arg.GetType() == typeof(ArgumentException):
                cls = "ArgumentException";
                allowed = true;
                break;
            default:
                cls = error.GetType().FullName!;
                allowed = false;
                break;
        }

        _outcomes[cls] = _outcomes.GetValueOrDefault(cls) + 1;
        if (error is not null && !_examples.ContainsKey(cls))
        {
            _examples[cls] = OneLine(error.Message);
        }

        if (!allowed)
        {
            _failures.Add($"{cls}: {OneLine(error!.Message)} at {OneLine(error.StackTrace ?? "")} -- {replay}");
        }
    }

    private static string OneLine(string text)
    {
        string line = text.ReplaceLineEndings(" ");
        return line.Length > 300 ? line[..300] + "…" : line;
    }
}
