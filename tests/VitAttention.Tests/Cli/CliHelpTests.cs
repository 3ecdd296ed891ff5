using System.Text.RegularExpressions;
using VitAttention.Cli;
using VitAttention.Tests.Hub;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Cli;

/// <summary>The front door of the command: help per subcommand, --version, one meaning per option name, model paths that never reach the hub, and a README usage block that is the real help.</summary>
[NonParallelizable]
public sealed partial class CliHelpTests
{
    [TestCase("explain", "--help")]
    [TestCase("explain", "-h")]
    [TestCase("classify", "--help")]
    [TestCase("prepare", "-h")]
    [TestCase("bench", "--help")]
    public void Help_EveryCommand_PrintsItsOwnOptionsAndExitCodesOnStdout(string command, string flag)
    {
        var (code, stdout, err) = Run(command, flag);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(stdout, Does.StartWith($"usage: vit-attention {command} "));
        foreach (var option in CliCommands.Find(command)!.AllOptions)
        {
            Assert.That(stdout, Does.Contain("--" + option.Name), option.Name);
        }

        Assert.That(stdout, Does.Contain("exit codes:").And.Contain("125").And.Contain("  8  "));
    }

    [Test]
    public void Help_WithOtherArguments_StillPrintsHelpAndRunsNothing()
    {
        var (code, stdout, _) = Run("explain", "no-such-image.png", "--out", "x", "--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout, Does.Contain("--keep-going"));
    }

    [Test]
    public void Version_PrintsTheLibraryVersion()
    {
        var (code, stdout, _) = Run("--version");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout.Trim(), Is.EqualTo(typeof(AttentionRollout).Assembly.GetName().Version!.ToString(3)));
    }

    [TestCase("classify")]
    [TestCase("explain")]
    public void Top_IsNotAnOptionAnyMore_SaysWhichOneToUse(string command)
    {
        var (code, _, err) = Run(command, FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", Path.GetTempPath(), "--top", "2");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--top-classes"));
        Assert.That(err.Trim().Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public void Options_TopClassesMeansClassesInEveryCommand()
    {
        var (code, stdout, err) = Run("classify", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--top-classes", "2", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.That(doc.RootElement.GetProperty("predictions").GetArrayLength(), Is.EqualTo(2));
        Assert.That(CliCommands.Explain.Options.Select(o => o.Name), Does.Contain("top-classes").And.Contain("top-layers").And.Not.Contain("top"));
    }

    [TestCase("./no-such-model-folder")]
    [TestCase("~/no-such-model-folder-vitattention")]
    [TestCase("EXISTING/no-such-model")]
    public void Model_LooksLikeAPathThatDoesNotExist_SaysNoSuchFolderAndNeverAsksTheHub(string model)
    {
        string root = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        string? endpoint = Environment.GetEnvironmentVariable("HF_ENDPOINT");
        using var hub = new FakeHubServer("EXISTING", "no-such-model", new Dictionary<string, byte[]>(), []);
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "EXISTING"));
            Environment.CurrentDirectory = root;
            Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);
            var (code, _, err) = Run("classify", FixturePaths.Image("chelsea.png"), "--model", model);
            Assert.That(code, Is.EqualTo(CliApp.ExitCodes.File), err);
            Assert.That(err, Does.Contain("no such folder"));
            Assert.That(hub.Requests, Is.Empty, "a path is never sent to the hub");
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Environment.SetEnvironmentVariable("HF_ENDPOINT", endpoint);
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void ReadMe_CommandLineBlock_IsTheRealHelpText()
    {
        string readme = File.ReadAllText(Path.Combine(TestContext.CurrentContext.TestDirectory, "README.md")).ReplaceLineEndings("\n");
        var block = UsageBlock().Match(readme);
        Assert.That(block.Success, Is.True, "README.md has a ```text block under '## Command line'");
        var (code, help, _) = Run("--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(block.Groups[1].Value, Is.EqualTo(help.ReplaceLineEndings("\n")),
            "README's usage block must be `vit-attention --help` verbatim; paste the new help into README.md");
    }

    [GeneratedRegex("## Command line\\n\\n```text\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex UsageBlock();
}
