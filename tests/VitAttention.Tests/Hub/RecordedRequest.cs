namespace VitAttention.Tests.Hub;

/// <summary>One request the fake hub received.</summary>
internal sealed record RecordedRequest(string Method, string Path, string? Range, string? Authorization);
