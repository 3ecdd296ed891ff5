using System.Reflection;
using Microsoft.ML.OnnxRuntime;

namespace VitAttention.Cli;

/// <summary>
/// What the tool says when <c>--device cuda</c> cannot be honoured. The library's own message speaks to app developers
/// (which package to reference); a tool user needs the CUDA build of the tool instead, which this says how to get.
/// </summary>
internal static class CudaBuild
{
    /// <summary>The CUDA build's package id (src/VitAttention.Cli.Cuda).</summary>
    internal const string PackageId = "VitAttention.Cli.Cuda";

    /// <summary>
    /// True when this process's ONNX Runtime has the CUDA execution provider, as the CUDA build's ONNX Runtime GPU has
    /// (whether or not the CUDA libraries are installed); false for the CPU build.
    /// </summary>
    internal static bool RuntimeHasCuda => OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    /// <summary>The repository the tool was built from (RepositoryUrl in Directory.Build.props).</summary>
    internal static string RepositoryUrl =>
        typeof(CudaBuild).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "RepositoryUrl")?.Value ?? "the VitAttention repository";

    /// <summary>The one-line message for a CUDA failure: the library's when this is the CUDA build, else how to get it.</summary>
    internal static string DeviceMessage(DeviceUnavailableException e, bool runtimeHasCuda) =>
        runtimeHasCuda ? e.Message : CpuBuildMessage;

    /// <summary>Why the CPU build cannot run on CUDA, and the commands that build and install the CUDA build.</summary>
    internal static string CpuBuildMessage =>
        "--device cuda needs the CUDA build of vit-attention; this one is the CPU build (its ONNX Runtime has no CUDA " +
        "execution provider). The CUDA build runs on Linux x64 and Windows x64 with an NVIDIA GPU, CUDA 13 and cuDNN 9; " +
        $"build and install it from the source: git clone {RepositoryUrl} vitattention && " +
        $"dotnet pack vitattention/src/VitAttention.Cli.Cuda -c Release -o vit-attention-cuda && " +
        $"dotnet tool uninstall -g VitAttention.Cli && dotnet tool install -g {PackageId} --add-source vit-attention-cuda. " +
        "Or run on the CPU: leave out --device cuda, or add --allow-cpu-fallback.";
}
