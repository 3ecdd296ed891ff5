using VitAttention.Rendering.Viewer;

namespace VitAttention;

public sealed partial class Explanation
{
    /// <summary>
    /// Writes an interactive viewer for this image as one self-contained HTML file that opens offline in any current
    /// browser: the photo with the attention overlay, any layer and head (or their mean, max or min), the row or column
    /// of any hovered patch, the rollout from that patch, every layer × head as thumbnails, the library's rollout, the
    /// predictions, colormap and opacity controls and keyboard navigation. The attention is embedded quantised to one
    /// byte per value, scaled by its row's maximum (error at most 1/510 of that maximum); a ViT-B/16 page is about
    /// 7 MB. The file is written atomically. The page needs the image's whole attention stack: explain it with
    /// <see cref="ExplainOptions.KeepAttentions"/> set.
    /// </summary>
    /// <param name="path">The .html file to write; its folder is created if needed.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="InvalidOperationException">The explanation was made without <see cref="ExplainOptions.KeepAttentions"/>.</exception>
    /// <exception cref="IOException">The file cannot be written; the message names it.</exception>
    public void SaveHtml(string path)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ViewerPage.Save(ExplanationViewerData.From(this), path);
    }
}
