using System.Globalization;
using System.Text.Json.Nodes;
using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Rendering.Viewer;
using VitAttention.Rollout;

namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>
/// The viewer page in a real browser: headless Chromium opens the written file from file://, the test hovers patches,
/// presses keys and clicks, reads back <c>window.vitViewer.state()</c>, and checks what is shown against the library's
/// own numbers (RolloutEngine, the explanation) within the quantisation error. One browser for the fixture.
/// Screenshots go to <c>$VITATTENTION_VIEWER_SHOTS</c> (the gallery script sets docs/gallery) or the test's work folder.
/// </summary>
[NonParallelizable]
public class ViewerBrowserTests
{
    private const int Width = 1040, Height = 1400;
    private static readonly string[] RegisterPrefix = ["CLS", "REG1", "REG2", "REG3", "REG4"];

    private string _folder = "";
    private VitExplainer? _explainer;
    private Explanation? _cat;
    private float[] _catAttention = [];  // [layer, head, query, key] of the cat's batch item
    private float[] _catDecoded = [];    // the same as the page decodes it
    private AttentionShape _catShape;    // [layer, 1, head, tokens, tokens]
    private string _catPage = "";
    private ViewerData? _registers;
    private string _registersPage = "";
    private HeadlessChromium? _browser;
    private CdpPage? _page;

    private CdpPage Page => _page!;

    private Explanation Cat => _cat!;

    private static string DemoModel => Path.Combine(TestContext.CurrentContext.TestDirectory, "DemoModel");

    [OneTimeSetUp]
    public async Task StartBrowserAndWritePages()
    {
        _folder = FixturePaths.NewTempFolder();
        _explainer = VitExplainer.Load(DemoModel);
        _cat = _explainer.Explain(FixturePaths.Image("chelsea.png"), ExplainOptions.Default with { KeepAttentions = true });
        var s = Cat.Attentions!.Shape;
        _catShape = new AttentionShape(s.Layers, 1, s.Heads, s.Tokens);
        _catAttention = Cat.Attentions.Data.ToArray(); // [layer, 1, head, query, key]: the image's own stack

        _catDecoded = ViewerReference.Quantised(_catAttention, s.Tokens);
        _catPage = Path.Combine(_folder, "chelsea.html");
        Cat.SaveHtml(_catPage);

        // A layout unlike the demo model's: four registers, a 3×5 grid, a photo cropped on every side.
        _registers = ViewerSamples.Random(3, 2, 3, 5, RegisterPrefix, seed: 31, photoWidth: 240, photoHeight: 160, seen: new SKRect(20, 16, 220, 136));
        _registersPage = Path.Combine(_folder, "registers.html");
        ViewerPage.Save(_registers, _registersPage);

        _browser = await HeadlessChromium.LaunchAsync();
        _page = await _browser.NewPageAsync(Width, Height);
    }

    [OneTimeTearDown]
    public async Task StopBrowser()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _cat?.Dispose();
        _explainer?.Dispose();
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [TearDown]
    public void NoPageErrors()
    {
        var errors = _browser?.PageErrors.ToArray() ?? [];
        _browser?.PageErrors.Clear();
        Assert.That(errors, Is.Empty, "the page reported JavaScript errors");
    }

    private int Tokens => _catShape.Tokens;

    private static int PatchToken(int prefix, int gridWidth, int row, int col) => prefix + (row * gridWidth) + col;

    private async Task HoverAsync(int token)
    {
        var p = await Page.EvaluateAsync($"window.vitViewer.patchPoint({token})");
        await Page.MouseMoveAsync(p["x"]!.GetValue<double>(), p["y"]!.GetValue<double>());
    }

    private async Task<(double X, double Y)> CentreOfAsync(string selector, int index)
    {
        var p = await Page.EvaluateAsync(
            $"(() => {{ const r = document.querySelectorAll({JsonValue.Create(selector)!.ToJsonString()})[{index}].getBoundingClientRect(); return {{ x: r.x + r.width / 2, y: r.y + r.height / 2 }}; }})()");
        return (p["x"]!.GetValue<double>(), p["y"]!.GetValue<double>());
    }

    /// <summary>The library's attention of one layer (zero-based) for a head (null: mean), row of <paramref name="query"/>.</summary>
    private float[] LibraryRow(int layer, int? head, int query)
    {
        var row = new float[Tokens];
        new RolloutEngine().LayerRow(Cat.Attentions!.Data, Cat.Attentions.Shape, layer, 0, query, head, row);
        return row;
    }

    /// <summary>Half a quantisation step of each row max, averaged (mean) or maximised (max/min/one head) over the heads.</summary>
    private static double[] RowBounds(float[] attention, int heads, int tokens, int layer, int? head, int query, bool column, bool mean)
    {
        var bounds = new double[tokens];
        for (int k = 0; k < tokens; k++)
        {
            int row = column ? k : query;
            double total = 0, worst = 0;
            for (int h = head ?? 0; h < (head is null ? heads : head.Value + 1); h++)
            {
                long b = ((((long)layer * heads) + h) * tokens * tokens) + ((long)row * tokens);
                double max = attention.AsSpan((int)b, tokens).ToArray().Max() / 510.0;
                total += max;
                worst = Math.Max(worst, max);
            }

            bounds[k] = (mean ? total / heads : worst) + 1e-6;
        }

        return bounds;
    }

    private static void AssertWithin(double[] shown, IReadOnlyList<double> expected, IReadOnlyList<double> bounds, string what)
    {
        Assert.That(shown, Has.Length.EqualTo(expected.Count), what);
        for (int i = 0; i < shown.Length; i++)
        {
            Assert.That(shown[i], Is.EqualTo(expected[i]).Within(bounds[i]), $"{what}, token {i}");
        }
    }

    private static double[] AsDoubles(ReadOnlySpan<float> values) => values.ToArray().Select(v => (double)v).ToArray();

    private static float[] AsFloats(double[] values) => values.Select(v => (float)v).ToArray();

    [Test]
    public async Task Hover_PatchOnDemoModel_ShowsTheLibrarysLastLayerMeanRow()
    {
        await Page.OpenViewerAsync(_catPage);
        int token = PatchToken(1, 14, 5, 7);
        await HoverAsync(token);
        var state = await Page.StateAsync();

        Assert.That((state.Method, state.Direction, state.Layer, state.Head), Is.EqualTo(("attention", "row", 4, "mean")));
        Assert.That((state.Token, state.HoveredToken), Is.EqualTo((token, (int?)token)));
        var bounds = RowBounds(_catAttention, 4, Tokens, 3, null, token, column: false, mean: true);
        AssertWithin(state.Values!, AsDoubles(LibraryRow(3, null, token)), bounds, "last layer, mean over heads");
        Assert.That(state.Map, Is.EqualTo(state.Values![1..]));
        Assert.That((state.Min, state.Max), Is.EqualTo((state.Map.Min(), state.Map.Max())));
    }

    [Test]
    public async Task Keyboard_ArrowsSwitchLayerAndHead_RowFollowsTheLibrary()
    {
        await Page.OpenViewerAsync(_catPage);
        int token = PatchToken(1, 14, 9, 3);
        await HoverAsync(token);
        await Page.PressAsync("ArrowUp");   // layer 4 → 3
        await Page.PressAsync("ArrowLeft"); // mean → head 4 (the heads, then mean, max, min, cycling)
        var state = await Page.StateAsync();
        Assert.That((state.Layer, state.Head), Is.EqualTo((3, "4")));

        // One head: exactly the library's row after the page's quantisation, value for value.
        var quantised = ViewerReference.Quantised(LibraryRow(2, 3, token), Tokens);
        Assert.That(state.Values, Is.EqualTo(quantised.Select(v => (double)v).ToArray()));

        await Page.PressAsync("ArrowRight");
        await Page.PressAsync("ArrowRight"); // head 4 → mean → max
        state = await Page.StateAsync();
        Assert.That(state.Head, Is.EqualTo("max"));
        var max = ViewerReference.Row(ViewerReference.Layer(_catAttention, 4, Tokens, 2, "max"), token);
        AssertWithin(state.Values!, max, RowBounds(_catAttention, 4, Tokens, 2, null, token, column: false, mean: false), "layer 3, max over heads");

        await Page.PressAsync("ArrowDown");
        await Page.PressAsync("ArrowDown"); // clamped at the last layer
        Assert.That((await Page.StateAsync()).Layer, Is.EqualTo(4));

        // Leaving the picture returns to the selected token (CLS); shift+arrows move the selection over the grid.
        await Page.MouseMoveAsync(Width - 5, 5);
        Assert.That((await Page.StateAsync()).Token, Is.EqualTo(0));
        await Page.PressAsync("ArrowRight", shift: true); // from CLS to the centre patch
        await Page.PressAsync("ArrowRight", shift: true);
        await Page.PressAsync("ArrowDown", shift: true);
        state = await Page.StateAsync();
        Assert.That(state.Token, Is.EqualTo(PatchToken(1, 14, 8, 8)));
        await Page.PressAsync("Escape");
        Assert.That((await Page.StateAsync()).Token, Is.EqualTo(0));
    }

    [Test]
    public async Task ColumnKey_Patch_ShowsWhatAttendsToIt()
    {
        await Page.OpenViewerAsync(_catPage);
        int token = PatchToken(1, 14, 2, 11);
        await HoverAsync(token);
        await Page.PressAsync("d");
        var state = await Page.StateAsync();
        Assert.That(state.Direction, Is.EqualTo("column"));
        var column = ViewerReference.Column(ViewerReference.Layer(_catAttention, 4, Tokens, 3, "mean"), token);
        AssertWithin(state.Values!, column, RowBounds(_catAttention, 4, Tokens, 3, null, token, column: true, mean: true), "last layer column, mean");
    }

    [Test]
    public async Task RolloutFromPatch_EveryFusionLayerAndDirection_MatchesRolloutEngine()
    {
        await Page.OpenViewerAsync(_catPage);
        int token = PatchToken(1, 14, 6, 6);
        await HoverAsync(token);
        await Page.PressAsync("m");
        var engine = new RolloutEngine();
        var cases = new (string[] Keys, string Head, int EndLayer, string Direction)[]
        {
            ([], "mean", 3, "row"),
            (["ArrowUp"], "mean", 2, "row"),
            (["ArrowRight"], "max", 2, "row"),
            (["ArrowRight"], "min", 2, "row"),
            (["d"], "min", 2, "column"),
            (["ArrowLeft", "ArrowLeft", "ArrowDown"], "mean", 3, "column"),
        };
        foreach (var (keys, head, end, direction) in cases)
        {
            foreach (string key in keys)
            {
                await Page.PressAsync(key);
            }

            var state = await Page.StateAsync();
            string what = $"rollout from token {token}, {head}, layers 1..{end + 1}, {direction}";
            Assert.That((state.Method, state.Head, state.Layer, state.Direction), Is.EqualTo(("rollout from token", head, end + 1, direction)), what);

            // The page's arithmetic: against a float64 reference of full matrix products on the attention it decoded.
            var reference = ViewerReference.Rollout(_catDecoded, 4, Tokens, end, head);
            var expected = direction == "row" ? ViewerReference.Row(reference, token) : ViewerReference.Column(reference, token);
            // The page keeps fused heads in float32: allow that rounding (~6e-8 relative), nothing more.
            double exact = (1e-6 * expected.Max()) + 1e-9;
            AssertWithin(state.Values!, expected, Enumerable.Repeat(exact, Tokens).ToArray(), what + " (page vs float64 on its own data)");

            // The library's engine on the full-precision attention: the difference is the quantisation's.
            var options = RolloutOptions.Default with
            {
                Fusion = Enum.Parse<HeadFusion>(head, ignoreCase: true), LastLayer = end + 1, QueryToken = token, MaxDegreeOfParallelism = 1,
            };
            double[] library;
            if (direction == "row")
            {
                var row = new float[Tokens];
                engine.RolloutRow(_catAttention, _catShape, 0, options, row);
                library = AsDoubles(row);
            }
            else
            {
                var matrix = new float[Tokens * Tokens];
                engine.RolloutMatrix(_catAttention, _catShape, 0, options, matrix);
                library = Enumerable.Range(0, Tokens).Select(i => (double)matrix[(i * Tokens) + token]).ToArray();
            }

            double tolerance = (0.01 * library.Max()) + 1e-6;
            double worst = state.Values!.Zip(library, (a, b) => Math.Abs(a - b)).Max();
            TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: largest difference {worst:E2} = {worst / library.Max():P3} of the largest value"));
            AssertWithin(state.Values!, library, Enumerable.Repeat(tolerance, Tokens).ToArray(), what + " (page vs RolloutEngine)");
        }
    }

    [Test]
    public async Task LibraryRollout_MethodKey_ShowsTheExplanationsRolloutWhichThePagesOwnReproduces()
    {
        await Page.OpenViewerAsync(_catPage);
        await Page.PressAsync("m");
        await Page.PressAsync("m");
        var state = await Page.StateAsync();
        Assert.That(state.Method, Is.EqualTo("rollout"));
        Assert.That(state.Values, Is.Null);
        Assert.That(AsFloats(state.Map), Is.EqualTo(Cat.Rollout.Values.ToArray()), "the JSON carries each float exactly");

        var own = (await Page.EvaluateAsync("window.vitViewer.set({ method: 'rollout from token', token: 0, layer: 4, head: 'mean', direction: 'row' }).map"))
            .AsArray().Select(v => v!.GetValue<double>()).ToArray();
        double tolerance = (0.01 * Cat.Rollout.Values.ToArray().Max()) + 1e-6;
        AssertWithin(own, AsDoubles(Cat.Rollout.Values), Enumerable.Repeat(tolerance, own.Length).ToArray(), "the page's CLS rollout vs the explanation's");
    }

    [Test]
    public async Task ClassPicker_SecondPredictionClicked_ShowsTheLibrarysMapForThatClass()
    {
        using var e = _explainer!.Explain(FixturePaths.Image("chelsea.png"), ExplainOptions.Default with
        {
            KeepAttentions = true,
            Method = ExplanationMethod.Rollout | ExplanationMethod.TransformerAttribution,
            TargetClass = TargetClass.Top(2),
        });
        string path = Path.Combine(_folder, "classes.html");
        e.SaveHtml(path);
        int first = e.TargetClasses[0], second = e.TargetClasses[1];
        await Page.OpenViewerAsync(path);
        Assert.That((await Page.EvaluateAsync("window.vitViewer.methods")).AsArray().Select(m => m!.GetValue<string>()), Does.Contain("transformer-attribution"));

        var opened = await Page.EvaluateAsync("window.vitViewer.set({ method: 'transformer-attribution' })");
        var (x, y) = await CentreOfAsync("#predictions li", 1); // the second most probable class
        await Page.ClickAsync(x, y);
        var state = await Page.StateAsync();

        Assert.That(state.Method, Is.EqualTo("transformer-attribution"));
        Assert.That(state.ClassIndex, Is.EqualTo(second));
        float[] library = e.Map(ExplanationMethod.TransformerAttribution, second).Map.ToArray();
        Assert.That(AsFloats(state.Map), Is.EqualTo(library), "the JSON carries each float exactly");
        float[] other = e.Map(ExplanationMethod.TransformerAttribution, first).Map.ToArray();
        Assert.That(library, Is.Not.EqualTo(other), "the two classes' maps differ, so the check discriminates");
        Assert.That(opened["map"]!.AsArray().Select(v => (float)v!.GetValue<double>()), Is.EqualTo(other), "before the click: the top class's map");
    }

    [Test]
    public async Task Thumbnails_HoveredPatch_EveryLayerAndHeadFollowsAndClickSelects()
    {
        await Page.OpenViewerAsync(_catPage);
        foreach (int token in (int[])[PatchToken(1, 14, 3, 4), PatchToken(1, 14, 12, 1)])
        {
            await HoverAsync(token);
            for (int l = 0; l < 4; l++)
            {
                for (int c = 0; c < 7; c++) // heads 1..4, mean, max, min
                {
                    string key = c < 4 ? (c + 1).ToString(CultureInfo.InvariantCulture) : new[] { "mean", "max", "min" }[c - 4];
                    var shown = (await Page.EvaluateAsync($"window.vitViewer.thumbnail({l}, {c})")).AsArray().Select(v => v!.GetValue<double>()).ToArray();
                    var expected = ViewerReference.Row(ViewerReference.Layer(_catAttention, 4, Tokens, l, key), token)[1..];
                    var bounds = RowBounds(_catAttention, 4, Tokens, l, c < 4 ? c : null, token, column: false, mean: key == "mean")[1..];
                    AssertWithin(shown, expected, bounds, $"thumbnail layer {l + 1}, {key}, token {token}");
                }
            }
        }

        var cell = await Page.EvaluateAsync("window.vitViewer.cellPoint(1, 2)");
        await Page.ClickAsync(cell["x"]!.GetValue<double>(), cell["y"]!.GetValue<double>());
        var state = await Page.StateAsync();
        Assert.That((state.Layer, state.Head), Is.EqualTo((2, "3")));
    }

    [Test]
    public async Task RegistersPage_CroppedNonSquareGrid_PatchesPrefixChipsAndClassesLineUp()
    {
        var data = _registers!;
        await Page.OpenViewerAsync(_registersPage);
        int p = RegisterPrefix.Length, t = data.Tokens;
        var decoded = ViewerReference.Quantised(data.Attention, t);
        foreach (var (row, col) in new[] { (0, 0), (2, 4), (1, 2) })
        {
            int token = PatchToken(p, 5, row, col);
            await HoverAsync(token);
            var state = await Page.StateAsync();
            Assert.That(state.Token, Is.EqualTo(token), $"patch ({row}, {col})");
            var expected = ViewerReference.Row(ViewerReference.Layer(decoded, 2, t, 2, "mean"), token);
            AssertWithin(state.Values!, expected, Enumerable.Repeat(1e-6, t).ToArray(), $"patch ({row}, {col}), last layer mean");
        }

        // A register's chip: its row; the picture leaves the hover behind when the mouse moves to the chip.
        var (x, y) = await CentreOfAsync("#tokens button", 2);
        await Page.ClickAsync(x, y);
        var chip = await Page.StateAsync();
        Assert.That((chip.Token, chip.SelectedToken, chip.HoveredToken), Is.EqualTo((2, 2, (int?)null)));
        Assert.That(chip.Values, Is.EqualTo(ViewerReference.Row(ViewerReference.Layer(decoded, 2, t, 2, "mean"), 2)).Within(1e-6));

        // Library maps: the class-agnostic one, then the class-specific one, class by class.
        await Page.PressAsync("m");
        await Page.PressAsync("m");
        var rollout = await Page.StateAsync();
        Assert.That(rollout.Method, Is.EqualTo("rollout"));
        Assert.That(AsFloats(rollout.Map), Is.EqualTo(data.Maps[0].Values));
        await Page.PressAsync("m");
        var first = await Page.StateAsync();
        Assert.That(first.Method, Is.EqualTo("gradients"));
        Assert.That(AsFloats(first.Map), Is.EqualTo(data.Maps[1].Values));
        await Page.PressAsync(".");
        var second = await Page.StateAsync();
        Assert.That(second.ClassIndex, Is.EqualTo(1));
        Assert.That(AsFloats(second.Map), Is.EqualTo(data.Maps[2].Values));
        (x, y) = await CentreOfAsync("#predictions li", 0); // "cat", class 3
        await Page.ClickAsync(x, y);
        var clicked = await Page.StateAsync();
        Assert.That(clicked.ClassIndex, Is.EqualTo(3));
        Assert.That(AsFloats(clicked.Map), Is.EqualTo(data.Maps[1].Values));
    }

    [Test]
    public async Task NoPrefixTokens_GapModelLayout_StartsAtTheCentrePatch()
    {
        // timm class_token=False with average pooling: every token is a patch.
        var data = ViewerSamples.Random(2, 3, 4, 4, [], seed: 32);
        string path = Path.Combine(_folder, "no-prefix.html");
        ViewerPage.Save(data, path);
        await Page.OpenViewerAsync(path);
        var state = await Page.StateAsync();
        Assert.That(state.Token, Is.EqualTo(PatchToken(0, 4, 2, 2)));
        Assert.That(state.Values, Has.Length.EqualTo(16));
        Assert.That(state.Map, Is.EqualTo(state.Values));
        var expected = ViewerReference.Row(ViewerReference.Layer(ViewerReference.Quantised(data.Attention, 16), 3, 16, 1, "mean"), state.Token);
        Assert.That(state.Values, Is.EqualTo(expected).Within(1e-6));
        var chips = await Page.EvaluateAsync("document.querySelectorAll('#tokens button').length");
        Assert.That(chips.GetValue<int>(), Is.EqualTo(0), "no prefix-token buttons");
    }

    [Test]
    public async Task UrlHash_State_RestoredOnOpenAndKeptOnChange()
    {
        await Page.OpenViewerAsync(_catPage, "#method=rollout%20from%20token&layer=2&head=3&token=40&dir=column&cmap=viridis&alpha=0.3&smooth=0");
        var state = await Page.StateAsync();
        Assert.That((state.Method, state.Layer, state.Head, state.Token, state.Direction), Is.EqualTo(("rollout from token", 2, "3", 40, "column")));
        Assert.That((state.Colormap, state.Alpha, state.Smooth), Is.EqualTo(("viridis", 0.3, false)));
        await Page.PressAsync("c");
        await Page.PressAsync("ArrowDown");
        string hash = (await Page.EvaluateAsync("location.hash")).GetValue<string>();
        Assert.That(hash, Does.Contain("layer=3").And.Contain("cmap=inferno").And.Contain("token=40"));
    }

    [Test]
    public async Task Screenshots_ThreeViews_ShowThePhotoWithTheOverlay()
    {
        string shots = Environment.GetEnvironmentVariable("VITATTENTION_VIEWER_SHOTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(TestContext.CurrentContext.WorkDirectory, "viewer-screenshots");
        Directory.CreateDirectory(shots);
        var views = new (string File, string Page, string Hash, int? Hover)[]
        {
            ("viewer.attention.png", _catPage, "#layer=4&head=mean", PatchToken(1, 14, 4, 9)),
            ("viewer.rollout.png", _catPage, "#method=rollout%20from%20token&layer=4&head=mean&cmap=inferno&alpha=0.7", PatchToken(1, 14, 7, 5)),
            ("viewer.registers.png", _registersPage, "#layer=3&head=max&cmap=viridis", PatchToken(5, 5, 1, 3)),
        };
        foreach (var (file, page, hash, hover) in views)
        {
            await Page.OpenViewerAsync(page, hash);
            if (hover is int token)
            {
                await HoverAsync(token);
                await Page.StateAsync(); // draws what the hover changed
            }

            byte[] png = await Page.ScreenshotAsync();
            string path = Path.Combine(shots, file);
            File.WriteAllBytes(path, png);
            TestContext.AddTestAttachment(path);

            using var bitmap = SKBitmap.Decode(png);
            Assert.That(bitmap, Is.Not.Null, file);
            Assert.That(bitmap.Width, Is.EqualTo(Width), file);
            // The picture's area holds the photo blended with the heat map: many colours, not a blank canvas.
            var box = await Page.EvaluateAsync("(() => { const r = document.getElementById('main').getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; })()");
            int x0 = (int)box["x"]!.GetValue<double>(), y0 = (int)box["y"]!.GetValue<double>();
            int w = (int)box["w"]!.GetValue<double>(), h = (int)box["h"]!.GetValue<double>();
            var colours = new HashSet<SKColor>();
            for (int y = y0 + 2; y < y0 + h - 2; y += 3)
            {
                for (int x = x0 + 2; x < x0 + w - 2; x += 3)
                {
                    colours.Add(bitmap.GetPixel(x, y));
                }
            }

            Assert.That(colours, Has.Count.GreaterThan(500), $"{file}: the picture should show the photo under the heat map");
        }
    }

    [TestCase("/no/such/chromium", "/usr/bin", null)]
    [TestCase(null, "", null)]
    public void FindExecutable_NoBrowser_ReturnsNullSoTheFixtureFailsWithTheInstallHint(string? configured, string? path, string? expected)
    {
        Assert.That(HeadlessChromium.FindExecutable(configured, path), Is.EqualTo(expected));
        Assert.That(HeadlessChromium.InstallHint, Does.Contain("apt-get install -y chromium").And.Contain(HeadlessChromium.ExecutableVariable));
    }
}
