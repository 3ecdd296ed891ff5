namespace VitAttention.Evaluation;

/// <summary>
/// <see cref="IMapProvider"/> over a <see cref="VitExplainer"/>. The methods are rows of a table
/// (<see cref="ExplainerMapMethod"/>): each says how it changes the explain options and how its map is read from the
/// explanation, so one explanation per image serves every requested method, and a new method is one row: every
/// method of the library's catalogue (rollout and last-layer attention, class-agnostic; gradient rollout, transformer
/// attribution, Grad-CAM and attention Grad-CAM, explaining the evaluated class).
/// </summary>
internal sealed class ExplainerMapProvider : IMapProvider
{
    /// <summary>The rollout method's name.</summary>
    public const string Rollout = "rollout";

    /// <summary>The final-layer attention method's name.</summary>
    public const string Attention = "attention";

    /// <summary>
    /// The methods every explainer provides, in the library's order (<see cref="ExplanationMethod"/>): each row adds
    /// its method to the explain options (and, when class-specific, the evaluated class as the target) and reads that
    /// method's map back, so one explanation per image serves every requested method.
    /// </summary>
    public static IReadOnlyList<ExplainerMapMethod> Table { get; } =
    [
        .. Analysis.Methods.MethodCatalog.All.Select(spec => new ExplainerMapMethod(
            spec.Name,
            spec.ClassSpecific,
            (o, target) => o with
            {
                Method = o.Method | spec.Method,
                TargetClass = spec.ClassSpecific ? TargetClass.Index(target) : o.TargetClass,
            },
            (e, target) => e.Map(spec.Method, spec.ClassSpecific ? target : null).Map.ToArray())),
    ];

    private readonly VitExplainer _explainer;
    private readonly ExplainOptions _options;
    private readonly Dictionary<string, ExplainerMapMethod> _table;

    /// <summary>Maps from an explainer; the caller keeps ownership of it.</summary>
    /// <param name="explainer">The explainer whose forward pass and maps are used.</param>
    /// <param name="options">The base explain options (rollout settings, query token); <see cref="ExplainOptions.Default"/> when null.</param>
    /// <param name="methods">The table of methods; <see cref="Table"/> when null.</param>
    /// <exception cref="ArgumentException">Two rows of <paramref name="methods"/> share a name, or one is named "random".</exception>
    public ExplainerMapProvider(VitExplainer explainer, ExplainOptions? options = null, IReadOnlyList<ExplainerMapMethod>? methods = null)
    {
        ArgumentNullException.ThrowIfNull(explainer);
        methods ??= Table;
        _explainer = explainer;
        _options = options ?? ExplainOptions.Default;
        _table = new Dictionary<string, ExplainerMapMethod>(StringComparer.Ordinal);
        foreach (var method in methods)
        {
            ArgumentNullException.ThrowIfNull(method, nameof(methods));
            if (method.Name == RandomMap.MethodName || !_table.TryAdd(method.Name, method))
            {
                throw new ArgumentException(
                    $"method '{method.Name}' is listed twice or is the reserved name '{RandomMap.MethodName}'; give each method its own name.", nameof(methods));
            }
        }

        Methods = [.. methods.Select(m => m.Name)];
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Methods { get; }

    /// <inheritdoc />
    public IReadOnlyList<float[]> Maps(IReadOnlyList<string> methods, ReadOnlySpan<float> pixels, int targetClass, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(methods);
        var rows = new List<ExplainerMapMethod>(methods.Count);
        var options = _options;
        foreach (string m in methods)
        {
            if (!_table.TryGetValue(m, out var row))
            {
                throw new ArgumentException($"method '{m}' is not available here; available: {string.Join(", ", Methods)}.", nameof(methods));
            }

            rows.Add(row);
            options = row.Configure(options, targetClass);
        }

        using var explanation = _explainer.ExplainPixels(pixels, options, cancellationToken)[0];
        return rows.Select(r => r.Read(explanation, targetClass)).ToList();
    }
}
