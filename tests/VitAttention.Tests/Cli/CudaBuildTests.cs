using System.Xml.Linq;
using VitAttention.Cli;

namespace VitAttention.Tests.Cli;

/// <summary>
/// <c>--device cuda</c> on the CPU build of the tool (the one these tests load: the CPU ONNX Runtime) must say exactly
/// how to get the CUDA build; the commands it prints must name the project, package id and repository that exist.
/// </summary>
[NonParallelizable]
public class CudaBuildTests
{
    private static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "VitAttention.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new DirectoryNotFoundException("VitAttention.sln not found above the test output folder.");
        }
    }

    private static string Property(string projectFile, string name) =>
        XDocument.Load(Path.Combine(RepositoryRoot, projectFile)).Descendants(name).Single().Value;

    [Test]
    public void Classify_CudaOnCpuBuild_Exit6WithCommandsThatBuildTheCudaTool()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = CliApp.Run(["classify", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--device", "cuda"], stdout, stderr);

        string err = stderr.ToString();
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Device), err);
        Assert.That(err.Trim().Split('\n'), Has.Length.EqualTo(1), "one line, no stack trace");
        Assert.That(stdout.ToString(), Is.Empty);
        string repository = Property("Directory.Build.props", "RepositoryUrl");
        Assert.That(repository, Does.StartWith("https://"));
        Assert.That(err, Does.Contain("this one is the CPU build"));
        Assert.That(err, Does.Contain($"git clone {repository} vitattention"));
        Assert.That(err, Does.Contain("dotnet pack vitattention/src/VitAttention.Cli.Cuda -c Release -o vit-attention-cuda"));
        Assert.That(err, Does.Contain("dotnet tool install -g VitAttention.Cli.Cuda --add-source vit-attention-cuda"));
        Assert.That(err, Does.Contain("CUDA 13").And.Contain("cuDNN 9"));
        Assert.That(err, Does.Contain("--allow-cpu-fallback"));
    }

    [Test]
    public void CpuBuildMessage_NamedProjectAndPackage_ExistInTheRepository()
    {
        Assert.That(File.Exists(Path.Combine(RepositoryRoot, "src", "VitAttention.Cli.Cuda", "VitAttention.Cli.Cuda.csproj")));
        Assert.That(Property("src/VitAttention.Cli.Cuda/VitAttention.Cli.Cuda.csproj", "PackageId"), Is.EqualTo(CudaBuild.PackageId));
        Assert.That(Property("src/VitAttention.Cli/VitAttention.Cli.csproj", "PackageId"), Is.EqualTo("VitAttention.Cli"));
        Assert.That(CudaBuild.RepositoryUrl, Is.EqualTo(Property("Directory.Build.props", "RepositoryUrl")));
    }

    [Test]
    public void RuntimeHasCuda_CpuOnnxRuntime_IsFalse()
    {
        Assert.That(CudaBuild.RuntimeHasCuda, Is.False);
    }

    [Test]
    public void DeviceMessage_CudaBuild_KeepsTheLibrarysMessage()
    {
        var e = new DeviceUnavailableException("CUDA was requested for model 'm' but cannot be used: no libcudart. Install CUDA 13 and cuDNN 9.");

        Assert.That(CudaBuild.DeviceMessage(e, runtimeHasCuda: true), Is.EqualTo(e.Message));
        Assert.That(CudaBuild.DeviceMessage(e, runtimeHasCuda: false), Is.EqualTo(CudaBuild.CpuBuildMessage));
    }

    [Test]
    public void ReadMe_Install_ShowsTheCommandsTheMessagePrints()
    {
        string readme = File.ReadAllText(Path.Combine(TestContext.CurrentContext.TestDirectory, "README.md"));
        string[] commands =
        [
            "dotnet pack src/VitAttention.Cli.Cuda -c Release -o vit-attention-cuda",
            "dotnet tool uninstall -g VitAttention.Cli",
            "dotnet tool install -g VitAttention.Cli.Cuda --add-source vit-attention-cuda",
        ];

        foreach (string command in commands)
        {
            Assert.That(readme, Does.Contain(command), "README");
            Assert.That(CudaBuild.CpuBuildMessage, Does.Contain(command.Replace("dotnet pack src/", "dotnet pack vitattention/src/", StringComparison.Ordinal)), "message");
        }

        Assert.That(readme, Does.Contain("`dotnet tool install -g VitAttention.Cli`"));
        Assert.That(readme, Does.Contain("dotnet add package VitAttention`").And.Contain("dotnet add package VitAttention.Cuda`"));
        Assert.That(readme, Does.Contain("CUDA 13 and cuDNN 9"));
    }
}
