namespace VitAttention;

/// <summary>
/// An image of a batch that could not be explained (unreadable, not an image, over the limits), reported to the
/// <c>onFailure</c> callback of <see cref="VitExplainer.ExplainMany{TImage}"/> while the other images go on.
/// </summary>
/// <param name="Index">The image's zero-based position in the sequence given.</param>
/// <param name="Source">The image's path or name.</param>
/// <param name="Error">What went wrong: usually an <see cref="InvalidImageException"/> or an <see cref="IOException"/>
/// (<see cref="FileNotFoundException"/> for a missing file); its message names the image.</param>
public sealed record ExplainFailure(int Index, string Source, Exception Error);
