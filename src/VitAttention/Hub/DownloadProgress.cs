namespace VitAttention.Hub;

/// <summary>
/// How far a file download has got, reported to an <see cref="IProgress{T}"/> by <see cref="HubClient"/>.
/// </summary>
/// <remarks>
/// Reports for one file arrive in order, synchronously on the downloading thread, and <see cref="BytesReceived"/>
/// never decreases within one download: a resumed download starts at the bytes already on disk, and a restart
/// (a server that ignores the resume request) reports nothing until it has passed the earlier count. The last report
/// of a successful download has <see cref="BytesReceived"/> equal to <see cref="TotalBytes"/>. Files already in the
/// cache are not reported.
/// </remarks>
/// <param name="File">The file name inside the repository, for example <c>model.safetensors</c>.</param>
/// <param name="BytesReceived">Bytes of the file on disk so far, counting those kept from an interrupted download.</param>
/// <param name="TotalBytes">The file's size, or null when the server did not say.</param>
public readonly record struct DownloadProgress(string File, long BytesReceived, long? TotalBytes)
{
    /// <summary>The fraction done in [0, 1], or null when the size is unknown.</summary>
    public double? Fraction => TotalBytes is > 0 and var total ? Math.Clamp((double)BytesReceived / total, 0, 1)
        : TotalBytes == 0 ? 1 : null;
}
