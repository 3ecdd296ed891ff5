using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>
/// Stops a disposed SkiaSharp object before it reaches native code: Skia dereferences the null handle a disposed
/// object keeps and the process dies (SIGSEGV) instead of throwing.
/// </summary>
internal static class SkiaGuard
{
    /// <summary>Throws when <paramref name="value"/> is null or has been disposed.</summary>
    /// <param name="value">A bitmap, image or other Skia object from the caller.</param>
    /// <param name="parameter">The caller's parameter name, for the message.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="value"/> has been disposed.</exception>
    public static void ThrowIfDisposed(SKNativeObject? value, string parameter)
    {
        ArgumentNullException.ThrowIfNull(value, parameter);
        if (value.Handle == IntPtr.Zero)
        {
            throw new ObjectDisposedException(
                value.GetType().Name, $"The {value.GetType().Name} passed as '{parameter}' has been disposed; pass one that is still alive.");
        }
    }
}
