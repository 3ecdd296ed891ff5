using VitAttention.Cli;
using VitAttention.Hub;

namespace VitAttention.Tests.Hub;

/// <summary>The CLI's download progress display (src/VitAttention.Cli/ProgressBar.cs).</summary>
public class ProgressBarTests
{
    [Test]
    public void Report_NotATerminal_WritesStartQuartersAndDoneAsPlainLines()
    {
        var output = new StringWriter();
        var bar = new ProgressBar(output, interactive: false);

        for (long received = 0; received <= 1000; received += 50)
        {
            bar.Report(new DownloadProgress("model.safetensors", received, 1000));
        }

        string[] lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Is.EqualTo(new[]
        {
            "downloading model.safetensors (1000 B)",
            "  model.safetensors: 25% (250 B of 1000 B)",
            "  model.safetensors: 50% (500 B of 1000 B)",
            "  model.safetensors: 75% (750 B of 1000 B)",
            "downloaded model.safetensors (1000 B)",
        }));
        Assert.That(output.ToString(), Does.Not.Contain("\r"));
    }

    [Test]
    public void Report_Terminal_RedrawsOneLineAndEndsItAtCompletion()
    {
        var output = new StringWriter();
        var bar = new ProgressBar(output, interactive: true, width: 100);

        bar.Report(new DownloadProgress("config.json", 0, 2048));
        bar.Report(new DownloadProgress("config.json", 2048, 2048));
        bar.Report(new DownloadProgress("model.safetensors", 0, 4096));
        bar.Finish();

        string text = output.ToString();
        string[] lines = text.Split(Environment.NewLine);
        Assert.That(lines, Has.Length.EqualTo(3), "one finished line per file and a trailing newline");
        Assert.That(lines[0], Does.StartWith("\rconfig.json").And.Contain("[" + new string('#', 24) + "] 100%").And.Contain("2.0 KB/2.0 KB"));
        Assert.That(lines[1], Does.StartWith("\rmodel.safetensors").And.Contain("0%"));
        Assert.That(lines[0].Split('\r').Skip(1).Select(l => l.Length), Is.All.EqualTo(99), "each redraw covers the previous one");
    }

    [TestCase(0, "0 B")]
    [TestCase(1023, "1023 B")]
    [TestCase(1536, "1.5 KB")]
    [TestCase(346_345_912, "330.3 MB")]
    public void FormatBytes_PowersOf1024(long bytes, string expected) =>
        Assert.That(ProgressBar.FormatBytes(bytes), Is.EqualTo(expected));
}
