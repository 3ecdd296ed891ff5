using VitAttention.Cli;
using VitAttention.Inference;

namespace VitAttention.Tests.Cli;

/// <summary>
/// The setting that keeps the resident memory of a long <c>vit-attention explain</c> run near that of a short one
/// (issue 10; the measurements are in docs/reliability.md).
/// </summary>
[TestFixture]
public class CliMemoryTests
{
    [Test]
    public void ExplainerOptions_FromAnyArguments_RunWithoutOrtsMemoryPattern()
    {
        var plain = CliApp.ExplainerOptionsFrom(CliApp.Parse(CliCommands.Explain, ["photo.png"]), TextWriter.Null);
        var tuned = CliApp.ExplainerOptionsFrom(CliApp.Parse(CliCommands.Explain, ["photo.png", "--threads", "1", "--no-spinning"]), TextWriter.Null);

        Assert.That(plain.Session.UseMemoryPattern, Is.False);
        Assert.That(tuned.Session.UseMemoryPattern, Is.False);
        Assert.That(VitSessionOptions.Default.UseMemoryPattern, Is.True, "the library keeps ONNX Runtime's default");
    }
}
