namespace VitAttention.Inference;

/// <summary>Where the forward pass runs.</summary>
public enum ExecutionDevice
{
    /// <summary>ONNX Runtime's CPU execution provider (the default; works with the plain VitAttention package).</summary>
    Cpu,

    /// <summary>
    /// NVIDIA GPU through ONNX Runtime's CUDA execution provider. Needs the GPU build of ONNX Runtime (reference the
    /// VitAttention.Cuda package) and CUDA 13 with cuDNN 9 installed (Microsoft.ML.OnnxRuntime.Gpu 1.31 links
    /// libcudart.so.13 and libcublas.so.13).
    /// </summary>
    Cuda,
}
