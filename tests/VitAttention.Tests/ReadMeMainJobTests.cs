using System.Globalization;
using System.Text.RegularExpressions;
using VitAttention.Cli;

namespace VitAttention.Tests;

/// <summary>The README's main-job command, read from the README and run through the CLI on the shipped trained model.</summary>
public partial class ReadMeTests
{
    [Test]
    public void MainJob_ReadMeCommand_PredictsBothShippedImagesCorrectlyAndWritesEveryFigure()
    {
        string readme = File.ReadAllText(Path.Combine(Output, "README.md"));
        var command = MainJobCommand().Match(readme);
        Assert.That(command.Success, "README's first command: dotnet run --project src/VitAttention.Cli -c Release -- explain …");
        string[] args = command.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(args, Does.Contain("models/fashion-vit"), "the main job runs the trained model");

        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            CopyFashionModel(work);
            Environment.CurrentDirectory = work;
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = CliApp.Run(args, stdout, stderr);
            Assert.That(code, Is.EqualTo(0), stderr.ToString());

            string[] images = args.Where(a => a.EndsWith(".png", StringComparison.Ordinal)).ToArray();
            Assert.That(images, Has.Length.EqualTo(2));
            foreach (string image in images)
            {
                // "models/fashion-vit/images/0000-ankle-boot.png: Ankle boot 0.8617; …": the class its name says, confidently.
                var line = Regex.Match(stdout.ToString(), Regex.Escape(image) + @": (.+?) (0\.\d+);");
                Assert.That(line.Success, $"{image} in:\n{stdout}");
                string slug = line.Groups[1].Value.ToLowerInvariant().Replace('/', '-').Replace(' ', '-');
                Assert.That(Path.GetFileNameWithoutExtension(image), Does.EndWith("-" + slug), image);
                Assert.That(double.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(0.85), image);
                foreach (string suffix in new[] { ".cls.png", ".layers.png", ".focused.png", ".rollout.png", ".json" })
                {
                    Assert.That(File.Exists(Path.Combine(work, "out", Path.GetFileNameWithoutExtension(image) + suffix)), image + suffix);
                }
            }

            string pair = $"{Path.GetFileNameWithoutExtension(images[0])}_vs_{Path.GetFileNameWithoutExtension(images[1])}";
            Assert.That(Directory.GetFiles(Path.Combine(work, "out"), pair + ".*.png"), Has.Length.EqualTo(4));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(work, recursive: true);
        }
    }

    [GeneratedRegex(@"dotnet run --project src/VitAttention\.Cli -c Release -- (explain [^\n]*--model models/fashion-vit[^\n]*)\n")]
    private static partial Regex MainJobCommand();
}
