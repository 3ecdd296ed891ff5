using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using VitAttention.Inference;

namespace VitAttention;

public sealed partial class VitExplainer
{
    /// <summary>
    /// Explains a sequence of images, yielding each explanation as soon as its batch is done, in the sequence's order.
    /// The sequence is read lazily, <see cref="ExplainerOptions.MaxBatchSize"/> images at a time, so any number of
    /// images runs in the memory of one batch: dispose each explanation when done with it.
    /// </summary>
    /// <typeparam name="TImage">
    /// <see cref="string"/> (paths), <see cref="T:byte[]"/> (encoded images), <see cref="Stream"/> (read to the end, not
    /// closed), <see cref="SkiaSharp.SKBitmap"/> (copied, not disposed) or <see cref="ImageInput"/> (any of them, named).
    /// </typeparam>
    /// <param name="images">The images; enumerated once, as the explanations are consumed.</param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="onFailure">
    /// Receives each image that cannot be read or decoded (missing, not an image, over the limits), and the others go
    /// on. Null (the default) stops at the first such image: the explanations before it are yielded, then its
    /// exception is thrown.
    /// </param>
    /// <param name="cancellationToken">Stops the run between images and batches (and a forward pass in flight).</param>
    /// <returns>The explanations, lazily; stopping the enumeration early disposes the ones already built and not yet yielded.</returns>
    /// <exception cref="ArgumentException">
    /// <typeparamref name="TImage"/> is not one of the types above, or an option is out of range for this model
    /// (both thrown by the call itself, before any image is read).
    /// </exception>
    public IEnumerable<Explanation> ExplainMany<TImage>(
        IEnumerable<TImage> images, ExplainOptions? options = null, Action<ExplainFailure>? onFailure = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ImageInput.RequireElementType<TImage>(nameof(images));
        options = Resolve(options);
        return ExplainManyIterator(images, options, onFailure, cancellationToken);
    }

    /// <summary>
    /// <see cref="ExplainMany{TImage}"/> as an asynchronous stream: files and streams are read with asynchronous I/O,
    /// decoding and each batch's forward pass run on a thread-pool thread, and explanations arrive as their batch
    /// finishes. Cancel with <paramref name="cancellationToken"/> or <c>WithCancellation</c>.
    /// </summary>
    /// <typeparam name="TImage">Paths, encoded bytes, streams, bitmaps or <see cref="ImageInput"/>s, as for <see cref="ExplainMany{TImage}"/>.</typeparam>
    /// <param name="images">The images; enumerated once, as the explanations are consumed.</param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="onFailure">Receives each image that cannot be read or decoded while the others go on; null stops at the first.</param>
    /// <param name="cancellationToken">Stops the run between images and batches (and a forward pass in flight).</param>
    /// <returns>The explanations, in the sequence's order; the caller disposes each.</returns>
    /// <exception cref="ArgumentException">
    /// <typeparamref name="TImage"/> is not a supported type, or an option is out of range (thrown by the call itself).
    /// </exception>
    public IAsyncEnumerable<Explanation> ExplainManyAsync<TImage>(
        IEnumerable<TImage> images, ExplainOptions? options = null, Action<ExplainFailure>? onFailure = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ImageInput.RequireElementType<TImage>(nameof(images));
        options = Resolve(options);
        return ExplainManyAsyncIterator(images, options, onFailure, cancellationToken);
    }

    private IEnumerable<Explanation> ExplainManyIterator<TImage>(
        IEnumerable<TImage> images, ExplainOptions options, Action<ExplainFailure>? onFailure, CancellationToken cancellationToken)
    {
        var pending = new List<(int Index, PreprocessedImage? Image)>(Options.MaxBatchSize);
        List<Explanation>? ready = null;
        int index = 0;
        try
        {
            foreach (TImage element in images)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ThrowIfDisposed();
                int i = index++;
                ExplainFailure? failure = null;
                try
                {
                    ImageInput input = ImageInput.FromElement(element, i);
                    try
                    {
                        pending.Add((i, Preprocess(input)));
                    }
                    catch (Exception ex) when (IsImageFailure(ex))
                    {
                        failure = new ExplainFailure(i, input.Name, ex);
                    }
                }
                catch (ArgumentNullException ex)
                {
                    failure = new ExplainFailure(i, $"[{i}]", ex);
                }

                bool flush = pending.Count == Options.MaxBatchSize || (failure is not null && onFailure is null);
                if (flush)
                {
                    // A failure without a handler ends the run: the images before it are explained and yielded first.
                    ready = RunBatch(pending, options, cancellationToken);
                    for (int k = 0; k < ready.Count; k++)
                    {
                        Explanation next = ready[k];
                        ready[k] = null!;
                        yield return next;
                    }

                    ready = null;
                }

                if (failure is not null)
                {
                    if (onFailure is null)
                    {
                        ExceptionDispatchInfo.Throw(failure.Error);
                    }

                    onFailure(failure);
                }
            }

            ready = RunBatch(pending, options, cancellationToken);
            for (int k = 0; k < ready.Count; k++)
            {
                Explanation next = ready[k];
                ready[k] = null!;
                yield return next;
            }

            ready = null;
        }
        finally
        {
            // Stopped early (break, an exception, cancellation): nothing built may leak.
            foreach (var (_, image) in pending)
            {
                image?.Dispose();
            }

            ready?.ForEach(r => r?.Dispose());
        }
    }

    private async IAsyncEnumerable<Explanation> ExplainManyAsyncIterator<TImage>(
        IEnumerable<TImage> images, ExplainOptions options, Action<ExplainFailure>? onFailure,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var pending = new List<(int Index, PreprocessedImage? Image)>(Options.MaxBatchSize);
        List<Explanation>? ready = null;
        int index = 0;
        try
        {
            foreach (TImage element in images)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int i = index++;
                ExplainFailure? failure = null;
                try
                {
                    ImageInput input = ImageInput.FromElement(element, i);
                    try
                    {
                        pending.Add((i, await PreprocessAsync(input, cancellationToken).ConfigureAwait(false)));
                    }
                    catch (Exception ex) when (IsImageFailure(ex))
                    {
                        failure = new ExplainFailure(i, input.Name, ex);
                    }
                }
                catch (ArgumentNullException ex)
                {
                    failure = new ExplainFailure(i, $"[{i}]", ex);
                }

                if (pending.Count == Options.MaxBatchSize || (failure is not null && onFailure is null))
                {
                    ready = await RunBatchAsync(pending, options, cancellationToken).ConfigureAwait(false);
                    for (int k = 0; k < ready.Count; k++)
                    {
                        Explanation next = ready[k];
                        ready[k] = null!;
                        yield return next;
                    }

                    ready = null;
                }

                if (failure is not null)
                {
                    if (onFailure is null)
                    {
                        ExceptionDispatchInfo.Throw(failure.Error);
                    }

                    onFailure(failure);
                }
            }

            ready = await RunBatchAsync(pending, options, cancellationToken).ConfigureAwait(false);
            for (int k = 0; k < ready.Count; k++)
            {
                Explanation next = ready[k];
                ready[k] = null!;
                yield return next;
            }

            ready = null;
        }
        finally
        {
            foreach (var (_, image) in pending)
            {
                image?.Dispose();
            }

            ready?.ForEach(r => r?.Dispose());
        }
    }

    /// <summary><see cref="RunBatch"/> on a thread-pool thread (it disposes the batch's photos itself when cancelled).</summary>
    private Task<List<Explanation>> RunBatchAsync(List<(int Index, PreprocessedImage? Image)> pending, ExplainOptions options, CancellationToken cancellationToken) =>
        pending.Count == 0 ? Task.FromResult(new List<Explanation>()) : Task.Run(() => RunBatch(pending, options, cancellationToken), CancellationToken.None);
}
