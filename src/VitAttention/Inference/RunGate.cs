namespace VitAttention.Inference;

/// <summary>
/// Counts the ONNX Runtime runs in flight on a session so that disposing it waits for them, and refuses new runs once
/// it is closed: <see cref="Enter"/> before a run, <see cref="Leave"/> after it (in a <c>finally</c>),
/// <see cref="CloseAndWait"/> in the owner's <c>Dispose</c>.
/// </summary>
internal sealed class RunGate
{
    private int _active;
    private int _closed;

    /// <summary>Counts a run in; throws when the gate is closed.</summary>
    /// <param name="owner">The session, named in the exception.</param>
    /// <exception cref="ObjectDisposedException">The owner was disposed.</exception>
    public void Enter(object owner)
    {
        Interlocked.Increment(ref _active);
        if (Volatile.Read(ref _closed) != 0)
        {
            Interlocked.Decrement(ref _active);
            throw new ObjectDisposedException(owner.GetType().Name);
        }
    }

    /// <summary>Counts a run out.</summary>
    public void Leave() => Interlocked.Decrement(ref _active);

    /// <summary>Closes the gate and waits until no run is in flight; false when it was already closed.</summary>
    /// <returns>True for the first call, which the owner follows by releasing the session.</returns>
    public bool CloseAndWait()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return false;
        }

        var spin = new SpinWait();
        while (Volatile.Read(ref _active) > 0)
        {
            spin.SpinOnce();
        }

        return true;
    }
}
