using System.Globalization;
using SkiaSharp;
using VitAttention.Evaluation;

namespace VitAttention.Rendering;

/// <summary>
/// The curves of a faithfulness run: one panel per test, one line per method (the mean over images) with a band of
/// ± one standard deviation, clipped to [0, 1]; the random baseline in grey and dashed; each legend entry carries the
/// method's mean AUC. Text in the embedded DejaVu Sans.
/// </summary>
internal static class CurvesFigure
{
    private const int PanelWidth = 360;
    private const int PanelHeight = 280;
    private const int MarginLeft = 56;
    private const int MarginRight = 16;
    private const int PanelGap = 24;

    private static readonly SKColor[] Palette =
    [
        new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28), new(0x94, 0x67, 0xbd),
        new(0x8c, 0x56, 0x4b), new(0xe3, 0x77, 0xc2), new(0xbc, 0xbd, 0x22), new(0x17, 0xbe, 0xcf),
    ];

    private static readonly SKColor RandomColour = new(0x7f, 0x7f, 0x7f);

    /// <summary>Draws the figure; the caller disposes the image.</summary>
    /// <param name="summary">The run's aggregate.</param>
    /// <param name="title">The figure's title; null for "Faithfulness over N images".</param>
    /// <exception cref="ArgumentException">The summary holds no curves.</exception>
    public static SKImage Draw(EvaluationSummary summary, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var methods = EvaluationReport.OrderedMethods(summary);
        var metrics = EvaluationReport.OrderedMetrics(summary);
        if (methods.Count == 0 || metrics.Count == 0)
        {
            throw new ArgumentException("the summary holds no curves: evaluate at least one image first.", nameof(summary));
        }

        title ??= string.Create(CultureInfo.InvariantCulture, $"Faithfulness over {summary.Images} images");
        using var titleFont = FigureText.CreateFont(18, bold: true);
        using var panelFont = FigureText.CreateFont(14, bold: true);
        using var tickFont = FigureText.CreateFont(11);
        using var legendFont = FigureText.CreateFont(12);
        float titleH = FigureText.LineHeight(titleFont) + 12, panelTitleH = FigureText.LineHeight(panelFont) + 8;
        float legendLine = FigureText.LineHeight(legendFont) + 2;
        float axisLabelH = (FigureText.LineHeight(tickFont) * 2) + 12;
        float legendH = (methods.Count * legendLine) + 10;
        // Panels in rows of at most two, so four tests make a square.
        int columns = Math.Min(2, metrics.Count), rows = (metrics.Count + columns - 1) / columns;
        int cellW = MarginLeft + PanelWidth + MarginRight;
        float cellH = panelTitleH + PanelHeight + axisLabelH + legendH + 12;
        int width = (columns * cellW) + ((columns - 1) * PanelGap) + 20;
        int height = (int)MathF.Ceiling(titleH + (rows * cellH) + 4);

        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"SkiaSharp could not create a {width}×{height} surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        canvas.DrawText(FigureText.Fit(title, titleFont, width - 20), width / 2f, 8 + FigureText.Ascent(titleFont), SKTextAlign.Center, titleFont, text);

        for (int p = 0; p < metrics.Count; p++)
        {
            var metric = metrics[p];
            float cellTop = titleH + (p / columns * cellH);
            float left = 10 + (p % columns * (cellW + PanelGap)) + MarginLeft, top = cellTop + panelTitleH;
            var plot = new SKRect(left, top, left + PanelWidth, top + PanelHeight);
            string caption = $"{FaithfulnessMetrics.Caption(metric)} ({(FaithfulnessMetrics.LowerIsBetter(metric) ? "lower" : "higher")} is better)";
            canvas.DrawText(FigureText.Fit(caption, panelFont, cellW), plot.MidX, cellTop + FigureText.Ascent(panelFont), SKTextAlign.Center, panelFont, text);
            DrawAxes(canvas, plot, metric, tickFont, text);
            using (new SKAutoCanvasRestore(canvas))
            {
                canvas.ClipRect(plot);
                for (int m = methods.Count - 1; m >= 0; m--)
                {
                    if (summary.Get(methods[m], metric) is { } curve)
                    {
                        DrawBand(canvas, plot, curve, ColourOf(methods[m], m));
                    }
                }

                for (int m = methods.Count - 1; m >= 0; m--)
                {
                    if (summary.Get(methods[m], metric) is { } curve)
                    {
                        DrawLine(canvas, plot, curve, ColourOf(methods[m], m), methods[m] == RandomMap.MethodName);
                    }
                }
            }

            float legendTop = plot.Bottom + axisLabelH + 4;
            for (int m = 0; m < methods.Count; m++)
            {
                if (summary.Get(methods[m], metric) is not { } curve)
                {
                    continue;
                }

                float y = legendTop + (m * legendLine);
                using var swatch = new SKPaint { Color = ColourOf(methods[m], m), StrokeWidth = 3, IsAntialias = true };
                float mid = y + (legendLine / 2);
                canvas.DrawLine(plot.Left, mid, plot.Left + 24, mid, swatch);
                string entry = $"{methods[m]}: AUC {EvaluationReport.FormatAuc(metric, curve.Auc.Mean)}";
                canvas.DrawText(FigureText.Fit(entry, legendFont, PanelWidth - 32), plot.Left + 30, y + FigureText.Ascent(legendFont), SKTextAlign.Left, legendFont, text);
            }
        }

        return surface.Snapshot();
    }

    private static SKColor ColourOf(string method, int index) =>
        method == RandomMap.MethodName ? RandomColour : Palette[index % Palette.Length];

    private static void DrawAxes(SKCanvas canvas, SKRect plot, FaithfulnessMetric metric, SKFont tickFont, SKPaint text)
    {
        using var frame = new SKPaint { Color = SKColors.Black, Style = SKPaintStyle.Stroke, StrokeWidth = 1, IsAntialias = true };
        using var grid = new SKPaint { Color = new SKColor(0xe0, 0xe0, 0xe0), Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        float capHalf = FigureText.Ascent(tickFont) / 2;
        for (int i = 0; i <= 5; i++)
        {
            double v = i / 5.0;
            float x = plot.Left + (float)(v * plot.Width), y = plot.Bottom - (float)(v * plot.Height);
            canvas.DrawLine(x, plot.Top, x, plot.Bottom, grid);
            canvas.DrawLine(plot.Left, y, plot.Right, y, grid);
            string label = v.ToString("0.0", CultureInfo.InvariantCulture);
            canvas.DrawText(label, x, plot.Bottom + 4 + FigureText.Ascent(tickFont), SKTextAlign.Center, tickFont, text);
            canvas.DrawText(label, plot.Left - 6, y + capHalf, SKTextAlign.Right, tickFont, text);
        }

        canvas.DrawRect(plot, frame);
        string xLabel = metric switch
        {
            FaithfulnessMetric.PositivePerturbation => "fraction of pixels removed, most relevant first",
            FaithfulnessMetric.NegativePerturbation => "fraction of pixels removed, least relevant first",
            FaithfulnessMetric.Deletion => "fraction of patches deleted",
            _ => "fraction of patches inserted",
        };
        float lineH = FigureText.LineHeight(tickFont);
        canvas.DrawText(xLabel, plot.MidX, plot.Bottom + 8 + lineH + FigureText.Ascent(tickFont), SKTextAlign.Center, tickFont, text);
        string yLabel = FaithfulnessMetrics.IsPerturbation(metric) ? "top-1 accuracy" : "probability of the predicted class";
        using (new SKAutoCanvasRestore(canvas))
        {
            canvas.Translate(plot.Left - MarginLeft + 4 + FigureText.Ascent(tickFont), plot.MidY);
            canvas.RotateDegrees(-90);
            canvas.DrawText(yLabel, 0, 0, SKTextAlign.Center, tickFont, text);
        }
    }

    private static SKPoint At(SKRect plot, double x, double y) =>
        new(plot.Left + (float)(x * plot.Width), plot.Bottom - (float)(Math.Clamp(y, 0, 1) * plot.Height));

    private static void DrawBand(SKCanvas canvas, SKRect plot, CurveSummary curve, SKColor colour)
    {
        using var path = new SKPathBuilder();
        for (int i = 0; i < curve.X.Length; i++)
        {
            var p = At(plot, curve.X[i], curve.Points[i].Mean + curve.Points[i].StandardDeviation);
            if (i == 0)
            {
                path.MoveTo(p);
            }
            else
            {
                path.LineTo(p);
            }
        }

        for (int i = curve.X.Length - 1; i >= 0; i--)
        {
            path.LineTo(At(plot, curve.X[i], curve.Points[i].Mean - curve.Points[i].StandardDeviation));
        }

        path.Close();
        using var fill = new SKPaint { Color = colour.WithAlpha(40), Style = SKPaintStyle.Fill, IsAntialias = true };
        using var built = path.Detach();
        canvas.DrawPath(built, fill);
    }

    private static void DrawLine(SKCanvas canvas, SKRect plot, CurveSummary curve, SKColor colour, bool dashed)
    {
        using var path = new SKPathBuilder();
        for (int i = 0; i < curve.X.Length; i++)
        {
            var p = At(plot, curve.X[i], curve.Points[i].Mean);
            if (i == 0)
            {
                path.MoveTo(p);
            }
            else
            {
                path.LineTo(p);
            }
        }

        using var effect = dashed ? SKPathEffect.CreateDash([6, 4], 0) : null;
        using var stroke = new SKPaint
        {
            Color = colour, Style = SKPaintStyle.Stroke, StrokeWidth = 2, IsAntialias = true, PathEffect = effect,
            StrokeJoin = SKStrokeJoin.Round,
        };
        using var built = path.Detach();
        canvas.DrawPath(built, stroke);
    }
}
