namespace VitAttention.Tests.Reliability;

/// <summary>Mutated bytes and the edits that made them.</summary>
internal sealed record Mutated(byte[] Bytes, IReadOnlyList<string> Steps)
{
    public string Describe() => string.Join("; ", Steps);
}
