using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using VitAttention.Inference;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Rollout;

public sealed unsafe partial class RolloutEngine
{
    /// <summary>
    /// The full rollout matrix without discard, in blocks of <see cref="BlockRows"/> rows. A chain of layers is
    /// worked in phases: phase 0 writes Ã_first into an output buffer; phase p computes P_p = Ã_l · P_p−1, each block
    /// fusing its rows of Ã_l into its thread's scratch (memory-bound: the heads' rows stream from RAM) and at once
    /// multiplying them by P_p−1 (compute-bound, P_p−1 in cache).
    /// </summary>
    /// <remarks>
    /// <para>One thread works one chain. With a helper (a thread-pool work item, when MaxDegreeOfParallelism and the
    /// machine's processors are both at least 2) the layers are split into a lower and an upper chain,
    /// then R = P_upper · P_lower as a third piece of work: the same number of products, and each thread's running
    /// product stays in its own core's cache instead of half of it crossing to the other core every layer (shared
    /// row blocks were slower per product; docs/benchmarks/rollout.md).</para>
    /// <para>Work is handed out as tickets (phase · blocks + block) from a counter per piece: the caller prefers
    /// the lower chain, helpers the upper, and a thread whose piece has no tickets left takes the other's, then the
    /// final product's, so no thread idles on a fixed share. A block fuses before it waits: only its multiplication
    /// needs the whole of P_p−1, so it waits until every block of the earlier phases of its chain is done. P_p and
    /// P_p−2 share a buffer; that is safe because a block writes P_p only after that wait, when nobody reads P_p−2
    /// any more. The final product waits for both chains and writes the lower chain's other buffer.</para>
    /// <para>A helper that has not started by the time the work is done is cancelled (the caller never waits for
    /// the pool to schedule one; it takes the helper's tickets itself), and a stale work item from an earlier call
    /// that starts later either serves the current call or returns at once. An input error in any thread stops the
    /// others and is rethrown on the calling thread. Waits spin, then yield; nothing allocates after the first call
    /// for a shape.</para>
    /// </remarks>
    private sealed class MatrixJob
    {
        /// <summary>Rows per block: two micro-kernel row tiles.</summary>
        public const int BlockRows = 2 * MatrixMultiply.RowBlock;

        /// <summary>Threads a call uses at most: one per chain. (More would share a chain's blocks across cores.)</summary>
        private const int MaxThreads = 2;

        private readonly Lane _owner;
        private readonly Piece[] _pieces = [new(), new(), new()];   // lower chain, upper chain, final product
        private Helper[] _helpers = [];
        private int _pieceCount;

        private float* _stack;
        private AttentionShape _shape;
        private RolloutOptions? _options;
        private int _item, _blocks;
        private volatile bool _failed;
        private ExceptionDispatchInfo? _error;

        public MatrixJob(Lane owner) => _owner = owner;

        /// <summary>R = Ã_end ⋯ Ã_start; returns a pointer into the owner lane's buffers.</summary>
        public float* Run(float* stack, AttentionShape shape, int item, RolloutOptions options, int start, int end)
        {
            int phases = end - start + 1;
            int helpers = Math.Min(Math.Min(options.MaxDegreeOfParallelism, Environment.ProcessorCount), MaxThreads) - 1;
            if (phases < 4 || shape.Tokens < 2 * BlockRows)
            {
                helpers = 0;   // too little work to share
            }

            _stack = stack;
            (_shape, _item, _options, _failed, _error) = (shape, item, options, false, null);
            _blocks = (_owner.RowsPadded + BlockRows - 1) / BlockRows;
            Lane o = _owner;
            if (helpers == 0)
            {
                _pieces[0].SetChain(start, phases, _blocks, o.Matrix(0), o.Matrix(1));
                _pieceCount = 1;
            }
            else
            {
                int lower = phases / 2;
                Piece low = _pieces[0], high = _pieces[1];
                low.SetChain(start, lower, _blocks, o.Matrix(0), o.Matrix(1));
                high.SetChain(start + lower, phases - lower, _blocks, o.Matrix(2), o.Matrix(3));
                _pieces[2].SetProduct(high.Result, low.Result, low.Output(lower), _blocks);
                _pieceCount = 3;
            }

            EnsureHelpers(helpers);
            for (int i = 0; i < helpers; i++)
            {
                _helpers[i].Lane.Prepare(shape);
                _helpers[i].Start();
            }

            Work(_owner, preferred: 0);
            for (int i = 0; i < helpers; i++)
            {
                _helpers[i].Join();
            }

            _stack = null;
            _options = null;
            _error?.Throw();
            return _pieces[_pieceCount - 1].Result;
        }

        private void EnsureHelpers(int count)
        {
            if (count <= _helpers.Length)
            {
                return;
            }

            int had = _helpers.Length;
            Array.Resize(ref _helpers, count);
            for (int i = had; i < count; i++)
            {
                _helpers[i] = new Helper(this, new Lane(_owner.Width, scratchOnly: true));
            }
        }

        /// <summary>Claims and runs blocks until none are left or a thread has failed.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Work(Lane lane, int preferred)
        {
            try
            {
                int n = _shape.Tokens, ld = _owner.Stride, rows = _owner.RowsPadded;
                while (!_failed)
                {
                    if (!Claim(preferred, out Piece? piece, out int ticket))
                    {
                        return;
                    }

                    int phase = ticket / _blocks, block = ticket - (phase * _blocks);
                    int from = block * BlockRows, to = Math.Min(from + BlockRows, rows), real = Math.Min(to, n);
                    if (piece.IsProduct)
                    {
                        if (!WaitFor(_pieces[0], _pieces[0].Tickets) || !WaitFor(_pieces[1], _pieces[1].Tickets))
                        {
                            return;
                        }

                        MatrixMultiply.Invoke(lane.Width, piece.Left, piece.Right, piece.Even, n, ld, ld, from, to);
                    }
                    else if (phase == 0)
                    {
                        lane.FuseRows(_stack, _shape, piece.FirstLayer, _item, _options!, from, real, piece.Even + ((long)from * ld));
                    }
                    else
                    {
                        float* scratch = lane.Block;
                        lane.FuseRows(_stack, _shape, piece.FirstLayer + phase, _item, _options!, from, real, scratch);
                        if (real < to)
                        {
                            // The padding rows of the last block multiply into P's padding rows: keep them zero.
                            new Span<float>(scratch + ((long)(real - from) * ld), (to - real) * ld).Clear();
                        }

                        if (!WaitFor(piece, phase * _blocks))
                        {
                            return;
                        }

                        // The scratch holds rows [from, to): shift it so that row i of "A" is scratch row i − from.
                        MatrixMultiply.Invoke(
                            lane.Width, scratch - ((long)from * ld), piece.Output(phase - 1), piece.Output(phase), n, ld, ld, from, to,
                            NextBlock(piece, phase, to));
                    }

                    Interlocked.Increment(ref piece.Done);
                }
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
                _failed = true;
            }
        }

        // What this thread will most likely fuse next: the chain's next block of rows, in every head.
        private PrefetchPlan NextBlock(Piece piece, int phase, int to)
        {
            int n = _shape.Tokens, layer = piece.FirstLayer + phase, first = to;
            if (first >= n)
            {
                if (phase + 1 >= piece.Phases)
                {
                    return default;
                }

                (layer, first) = (layer + 1, 0);
            }

            int rows = Math.Min(BlockRows, n - first);
            return new PrefetchPlan(
                (byte*)(_stack + _shape.OffsetOf(layer, _item) + ((long)first * n)), _shape.MatrixLength * sizeof(float), rows * n * sizeof(float), _shape.Heads);
        }

        // The preferred chain first, then the other chain, then the final product.
        private bool Claim(int preferred, [NotNullWhen(true)] out Piece? piece, out int ticket)
        {
            for (int k = 0; k < _pieceCount; k++)
            {
                piece = _pieces[k < 2 && _pieceCount > 1 ? (preferred + k) % 2 : k];
                if (Volatile.Read(ref piece.Ticket) < piece.Tickets)
                {
                    ticket = Interlocked.Increment(ref piece.Ticket) - 1;
                    if (ticket < piece.Tickets)
                    {
                        return true;
                    }
                }
            }

            (piece, ticket) = (null, -1);
            return false;
        }

        private bool WaitFor(Piece piece, int done)
        {
            SpinWait spin = default;
            while (Volatile.Read(ref piece.Done) < done)
            {
                if (_failed)
                {
                    return false;
                }

                spin.SpinOnce(sleep1Threshold: -1);
            }

            return true;
        }

        /// <summary>A piece of work handed out in tickets: a chain of layers, or the final product of two chains.</summary>
        private sealed class Piece
        {
            public int Ticket, Done;
            private float* _odd;

            public int FirstLayer { get; private set; }

            public int Phases { get; private set; }

            public int Tickets { get; private set; }

            public bool IsProduct { get; private set; }

            /// <summary>Output of even phases (the product's output).</summary>
            public float* Even { get; private set; }

            public float* Left { get; private set; }

            public float* Right { get; private set; }

            public float* Result => Output(Phases - 1);

            public float* Output(int phase) => (phase & 1) == 0 ? Even : _odd;

            public void SetChain(int firstLayer, int phases, int blocks, float* even, float* odd)
            {
                (FirstLayer, Phases, Tickets, IsProduct, Ticket, Done) = (firstLayer, phases, phases * blocks, false, 0, 0);
                Even = even;
                _odd = odd;
            }

            public void SetProduct(float* left, float* right, float* output, int blocks)
            {
                (FirstLayer, Phases, Tickets, IsProduct, Ticket, Done) = (-1, 1, blocks, true, 0, 0);
                Left = left;
                Right = right;
                Even = output;
            }
        }

        /// <summary>A thread-pool helper: its own lane, and a state that makes start, cancel and join race-free.</summary>
        private sealed class Helper(MatrixJob job, Lane lane) : IThreadPoolWorkItem
        {
            private const int Idle = 0, Queued = 1, Running = 2, Finished = 3;
            private int _state;

            public Lane Lane { get; } = lane;

            public void Start()
            {
                Volatile.Write(ref _state, Queued);
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }

            public void Execute()
            {
                // Only a work item that finds the helper queued runs; a stale one (cancelled earlier) returns.
                if (Interlocked.CompareExchange(ref _state, Running, Queued) != Queued)
                {
                    return;
                }

                try
                {
                    job.Work(Lane, preferred: 1);
                }
                finally
                {
                    Volatile.Write(ref _state, Finished);
                }
            }

            public void Join()
            {
                if (Interlocked.CompareExchange(ref _state, Idle, Queued) == Queued)
                {
                    return;   // never started: cancelled
                }

                SpinWait spin = default;
                while (Volatile.Read(ref _state) != Finished)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                Volatile.Write(ref _state, Idle);
            }
        }
    }
}
