using System.Collections.Concurrent;
using VitAttention.Loading;

namespace VitAttention;

/// <summary>
/// The front door. <c>AttentionRollout.Compute("dog.jpg")</c> explains a photo with the default model
/// (<see cref="DefaultModel"/>, downloaded once into the Hugging Face cache); <see cref="Load"/> gives an explainer
/// for any model, to reuse across many images and threads.
/// </summary>
/// <remarks>
/// <see cref="Compute"/> and <see cref="ComputeAsync"/> keep one explainer per model for the whole process, keyed by
/// the model they resolve to (<c>./models/vit</c> and <c>models/vit</c> share one; <c>owner/name</c> and
/// <c>owner/name@main</c> too). Each model is loaded once, on a thread-pool thread, without any lock held across the
/// load: other models load and explain meanwhile. A caller's cancellation only stops that caller's wait; the load goes
/// on for the others waiting on it. A load that fails is forgotten, so the next call tries again. <see cref="Clear"/>
/// disposes them all.
/// </remarks>
public static class AttentionRollout
{
    /// <summary>The model used when none is named: <c>google/vit-base-patch16-224</c>.</summary>
    public const string DefaultModel = ModelLoader.DefaultModel;

    private static readonly ConcurrentDictionary<string, SharedExplainer> Shared = new(StringComparer.Ordinal);

    /// <summary>Explains an image with a model kept for the whole process (loaded on first use; thread-safe).</summary>
    /// <param name="image">A path, encoded bytes, a stream or a bitmap (see <see cref="ImageInput"/>).</param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="model">A hub id, checkpoint folder or ONNX file; null for <see cref="DefaultModel"/>.</param>
    /// <param name="cancellationToken">Stops this call's wait for the model and its forward pass (never another caller's load).</param>
    /// <returns>The explanation; the caller disposes it.</returns>
    /// <exception cref="FileNotFoundException">The image file does not exist.</exception>
    /// <exception cref="InvalidImageException">The image is not decodable or exceeds the limits.</exception>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static Explanation Compute(ImageInput image, ExplainOptions? options = null, string? model = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        SharedExplainer shared = Acquire(model ?? DefaultModel, async: false, cancellationToken, out VitExplainer explainer);
        try
        {
            return explainer.Explain(image, options, cancellationToken);
        }
        finally
        {
            shared.Release();
        }
    }

    /// <summary>
    /// Explains an image with a model kept for the whole process, without blocking the caller (the model loads and the
    /// image is read asynchronously; decoding and the forward pass run on a thread-pool thread).
    /// </summary>
    /// <param name="image">A path, encoded bytes, a stream or a bitmap (see <see cref="ImageInput"/>).</param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="model">A hub id, checkpoint folder or ONNX file; null for <see cref="DefaultModel"/>.</param>
    /// <param name="cancellationToken">Stops this call's wait for the model and its forward pass (never another caller's load).</param>
    /// <returns>The explanation; the caller disposes it.</returns>
    /// <exception cref="FileNotFoundException">The image file does not exist.</exception>
    /// <exception cref="InvalidImageException">The image is not decodable or exceeds the limits.</exception>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static async Task<Explanation> ComputeAsync(ImageInput image, ExplainOptions? options = null, string? model = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (shared, explainer) = await AcquireAsync(model ?? DefaultModel, cancellationToken).ConfigureAwait(false);
        try
        {
            return await explainer.ExplainAsync(image, options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            shared.Release();
        }
    }

    /// <summary>Loads a model into a new explainer on the calling thread; the caller disposes it.</summary>
    /// <param name="model">A hub id <c>owner/name[@revision]</c>, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Device, threads, limits, hub and cache settings; null for <see cref="ExplainerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    /// <returns>The explainer.</returns>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="DirectoryNotFoundException">The model is a path to a folder that does not exist.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used.</exception>
    public static VitExplainer Load(string model = DefaultModel, ExplainerOptions? options = null, CancellationToken cancellationToken = default) =>
        VitExplainer.Load(model, options, cancellationToken);

    /// <summary>Loads a model into a new explainer without blocking the caller; see <see cref="VitExplainer.LoadAsync"/>.</summary>
    /// <param name="model">A hub id <c>owner/name[@revision]</c>, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Device, threads, limits, hub and cache settings; null for <see cref="ExplainerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels a download, or the load before its next step.</param>
    /// <returns>The explainer; the caller disposes it.</returns>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="DirectoryNotFoundException">The model is a path to a folder that does not exist.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used.</exception>
    public static Task<VitExplainer> LoadAsync(string model = DefaultModel, ExplainerOptions? options = null, CancellationToken cancellationToken = default) =>
        VitExplainer.LoadAsync(model, options, cancellationToken);

    /// <summary>
    /// Disposes every explainer <see cref="Compute"/> keeps and forgets them: the next call loads its model again.
    /// Calls in progress finish first with the explainer they hold; loads in progress are abandoned (their result is
    /// disposed when it arrives).
    /// </summary>
    public static void Clear()
    {
        foreach (var (key, shared) in Shared)
        {
            if (Shared.TryRemove(new KeyValuePair<string, SharedExplainer>(key, shared)))
            {
                shared.Retire();
            }
        }
    }

    /// <summary>How many models are kept (loaded or loading), for tests.</summary>
    internal static int SharedCount => Shared.Count;

    private static SharedExplainer Acquire(string model, bool async, CancellationToken cancellationToken, out VitExplainer explainer)
    {
        string key = ModelReference.Parse(model).Key;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SharedExplainer shared = Shared.GetOrAdd(key, static (_, m) => SharedExplainer.Start(m.Model, m.Async), (Model: model, Async: async));
            Task<VitExplainer> load = shared.Load;
            try
            {
                // Blocks only this caller, on a load that runs on the thread pool; the token stops the wait, not the load.
                load.Wait(cancellationToken);
            }
            catch (AggregateException) when (shared.IsRetired)
            {
                Forget(key, shared); // abandoned by Clear: load again
                continue;
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                Forget(key, shared); // failed: the next call tries again
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }

            if (shared.TryAcquire(out explainer))
            {
                return shared;
            }

            Forget(key, shared); // cleared meanwhile: load again
        }
    }

    private static async Task<(SharedExplainer Shared, VitExplainer Explainer)> AcquireAsync(string model, CancellationToken cancellationToken)
    {
        string key = ModelReference.Parse(model).Key;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SharedExplainer shared = Shared.GetOrAdd(key, static (_, m) => SharedExplainer.Start(m, async: true), model);
            try
            {
                await shared.Load.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (shared.IsRetired && !cancellationToken.IsCancellationRequested)
            {
                Forget(key, shared); // abandoned by Clear: load again
                continue;
            }
            catch (Exception) when (shared.Load.IsFaulted || shared.Load.IsCanceled)
            {
                Forget(key, shared); // failed: the next call tries again
                throw;
            }

            if (shared.TryAcquire(out VitExplainer explainer))
            {
                return (shared, explainer);
            }

            Forget(key, shared);
        }
    }

    private static void Forget(string key, SharedExplainer shared) =>
        Shared.TryRemove(new KeyValuePair<string, SharedExplainer>(key, shared));

    /// <summary>
    /// One model's shared explainer: its load (started once, on the thread pool, with no caller's token), the calls
    /// using it, and whether it was cleared. The explainer is disposed when it has been cleared and no call uses it.
    /// </summary>
    private sealed class SharedExplainer
    {
        private readonly Lock _gate = new();
        private readonly CancellationTokenSource _abandon = new();
        private int _users;
        private bool _retired;

        private SharedExplainer()
        {
        }

        public Task<VitExplainer> Load { get; private set; } = null!;

        /// <summary>True once <see cref="Clear"/> has let go of this explainer.</summary>
        public bool IsRetired
        {
            get
            {
                lock (_gate)
                {
                    return _retired;
                }
            }
        }

        public static SharedExplainer Start(string model, bool async)
        {
            var shared = new SharedExplainer();
            CancellationToken abandon = shared._abandon.Token;
            // A synchronous caller's load runs synchronous code on a pool thread; an asynchronous one's awaits its I/O.
            shared.Load = async
                ? Task.Run(() => VitExplainer.LoadAsync(model, null, abandon), CancellationToken.None)
                : Task.Run(() => VitExplainer.Load(model, null, abandon), CancellationToken.None);
            shared.Load.ContinueWith(
                static (t, s) => ((SharedExplainer)s!).Loaded(t),
                shared, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return shared;
        }

        /// <summary>Counts a call in; false when the explainer was cleared (or failed to load).</summary>
        public bool TryAcquire(out VitExplainer explainer)
        {
            lock (_gate)
            {
                if (_retired || !Load.IsCompletedSuccessfully)
                {
                    explainer = null!;
                    return false;
                }

                _users++;
                explainer = Load.Result;
                return true;
            }
        }

        /// <summary>Counts a call out; the last one out of a cleared explainer disposes it.</summary>
        public void Release()
        {
            bool dispose;
            lock (_gate)
            {
                _users--;
                dispose = _retired && _users == 0;
            }

            if (dispose)
            {
                Load.Result.Dispose();
            }
        }

        /// <summary>Cleared: disposes now when unused and loaded, else when the last call leaves or the load ends.</summary>
        public void Retire()
        {
            bool dispose;
            lock (_gate)
            {
                _retired = true;
                dispose = _users == 0 && Load.IsCompletedSuccessfully;
            }

            _abandon.Cancel();
            if (dispose)
            {
                Load.Result.Dispose();
            }
        }

        private void Loaded(Task<VitExplainer> load)
        {
            bool dispose;
            lock (_gate)
            {
                dispose = _retired && _users == 0 && load.IsCompletedSuccessfully;
            }

            if (dispose)
            {
                load.Result.Dispose();
            }
        }
    }
}
