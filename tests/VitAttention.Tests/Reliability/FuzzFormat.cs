namespace VitAttention.Tests.Reliability;

/// <summary>The file kinds the fuzzer mutates; each adds structure-aware edits to the generic byte edits.</summary>
internal enum FuzzFormat
{
    SafeTensors,
    ConfigJson,
    PreprocessorJson,
    Onnx,
    Image,
}
