using System.Numerics;
using System.Runtime.CompilerServices;

namespace VitAttention.Rollout.Flow;

/// <summary>
/// Exact maximum flow on a <see cref="FlowGraph"/> from the source (n, q) to one input token (0, j), in float64
/// (no integer scaling): Dinic's algorithm with the residual graph kept as bit sets, which the layered shape makes
/// cheap. One instance per thread; after the first sink of a graph nothing is allocated.
/// </summary>
/// <remarks>
/// <para><b>Why Dinic fits this graph.</b> Every arc joins adjacent node layers, so every residual arc does too
/// (a forward arc goes down a layer, the reverse of one with flow goes up). The residual graph of token a at node
/// layer r is two bit sets over the tokens of the layers below and above it: "forward capacity left" and "flow to
/// give back". A breadth-first search from the source then costs one AND-NOT per word of each node's sets
/// (~⌈tokens / 64⌉ words) rather than one test per arc, and finding an arc of the level graph in the depth-first
/// search is an AND with the set of next-level nodes that are still alive, then a trailing-zero count. Dead ends
/// are removed from the level sets, and the search pushes as much as it can through each node before it returns,
/// so an arc shared by many augmenting paths is updated once per visit. On random attention the first phase's
/// blocking flow is already maximal for every sink; on attention concentrated on a few tokens most sinks need a
/// second phase. A last search then finds that no path is left.</para>
/// <para><b>Floating point.</b> A residual capacity counts as positive only above <see cref="Epsilon"/>; an arc
/// left with less is saturated (an augmentation that fills an arc sets its flow to the capacity exactly), so the
/// flow never exceeds a capacity and each node conserves flow up to float64 rounding. When no augmenting path is
/// left, the nodes the source reaches define a cut whose capacity exceeds the flow by at most ε per arc of the cut
/// (see <see cref="Solve(int, bool, out double)"/>): the flow value is exact to far below 10⁻⁶.</para>
/// <para><b>Between sinks</b> only the arcs that carried flow are reset (they are listed as they are first used),
/// so a sink costs what its own search touches, not the size of the graph.</para>
/// </remarks>
internal sealed class LayeredMaxFlow
{
    /// <summary>Residual capacities at or below this count as zero. Capacities are normalised rows (≤ 1).</summary>
    public const double Epsilon = 1e-14;

    private FlowGraph _graph = null!;
    private int _tokens, _words, _interiorLayers;

    private double[] _flow = [];          // [n − 2, tokens, tokens]: flow on interior arcs (row: upper token, column: lower token)
    private ulong[] _forward = [];        // [n − 2, tokens, words]: bit b of (k, a): capacity left on (k + 2, a) → (k + 1, b)
    private ulong[] _backward = [];       // [n − 2, tokens, words]: bit a of (k, b): flow on (k + 2, a) → (k + 1, b) to give back
    private double[] _sourceFlow = [];    // [tokens]
    private ulong[] _sourceResidual = []; // [words]
    private double[] _sinkCapacity = [];  // [tokens]: arcs from node layer 1 into the sink
    private double[] _sinkFlow = [];      // [tokens]
    private ulong[] _sinkResidual = [];   // [words]

    private int[] _level = [];            // [interior nodes]: BFS distance from the source (valid where reached)
    private int[] _queue = [];            // [interior nodes]
    private ulong[] _reached = [];        // [interior layers, words]
    private ulong[] _levelNodes = [];     // [levels, interior layers, words]: alive nodes of each level, per layer
    private int _levelsUsed;
    private int[] _frameLayer = [];       // [interior nodes + 1]: the search stack (frame 0: the source): node layer,
    private int[] _frameToken = [];       //   token,
    private int[] _frameArc = [];         //   the arc from the frame below (interior arc index, or the token of a source arc),
    private double[] _frameLimit = [];    //   what the frame below can still send,
    private double[] _framePushed = [];   //   and what this frame has passed on towards the sink so far
    private int[] _touched = new int[256]; // interior arcs whose flow left 0 since the last reset (may repeat)
    private int _touchedCount;

    /// <summary>Phases (breadth-first searches that reached the sink) run so far; for tests and tuning.</summary>
    public long Phases { get; private set; }

    /// <summary>Pushes into the sink so far (each ends at least one augmenting path); for tests and tuning.</summary>
    public long Paths { get; private set; }

    /// <summary>Starts work on a new graph: sizes the buffers and clears all flow.</summary>
    public void Attach(FlowGraph graph)
    {
        _graph = graph;
        _tokens = graph.Tokens;
        _words = graph.Words;
        _interiorLayers = graph.InteriorLayers;
        int n = _tokens, w = _words, m = Math.Max(_interiorLayers, 0), blocks = Math.Max(m - 1, 0);
        long arcs = (long)blocks * n * n;
        if (_flow.LongLength < arcs)
        {
            _flow = new double[arcs];
            _touchedCount = 0;
        }
        else
        {
            ResetTouched(clearBits: false);
        }

        Grow(ref _forward, (long)blocks * n * w);
        Grow(ref _backward, (long)blocks * n * w);
        graph.InteriorMask.AsSpan(0, blocks * n * w).CopyTo(_forward);
        _backward.AsSpan(0, blocks * n * w).Clear();
        Grow(ref _sourceFlow, n);
        Grow(ref _sourceResidual, w);
        Grow(ref _sinkCapacity, n);
        Grow(ref _sinkFlow, n);
        Grow(ref _sinkResidual, w);
        Grow(ref _level, (long)m * n);
        Grow(ref _queue, (long)m * n);
        Grow(ref _reached, (long)m * w);
        Grow(ref _frameLayer, ((long)m * n) + 2);
        Grow(ref _frameToken, ((long)m * n) + 2);
        Grow(ref _frameArc, ((long)m * n) + 2);
        Grow(ref _frameLimit, ((long)m * n) + 2);
        Grow(ref _framePushed, ((long)m * n) + 2);
        _levelsUsed = 0;
    }

    /// <summary>
    /// The maximum flow from the source to input token <paramref name="sink"/>. With <paramref name="certify"/>,
    /// also the capacity of the cut that proves it: the arcs from the nodes the source still reaches in the final
    /// residual graph to those it does not. Max-flow/min-cut: flow ≤ max flow ≤ cut, and cut − flow ≤ ε × (arcs in
    /// the cut).
    /// </summary>
    public double Solve(int sink, bool certify, out double cut)
    {
        if (_graph.Layers == 1)
        {
            // One layer: the source's arc into the sink is the only path.
            cut = _graph.Source[sink];
            return cut;
        }

        PrepareSink(sink);
        while (true)
        {
            int sinkLevel = Search();
            if (sinkLevel < 0)
            {
                break;
            }

            Phases++;
            BlockingFlow(sinkLevel);
        }

        cut = certify ? CutCapacity() : double.NaN;
        double value = 0;
        for (int a = 0; a < _tokens; a++)
        {
            value += _sinkFlow[a];
        }

        return value;
    }

    private void PrepareSink(int sink)
    {
        ResetTouched(clearBits: true);
        int n = _tokens;
        _sourceFlow.AsSpan(0, n).Clear();
        _graph.SourceMask.CopyTo(_sourceResidual);
        _sinkFlow.AsSpan(0, n).Clear();
        _graph.SinkIn(sink).CopyTo(_sinkCapacity);
        Span<ulong> residual = _sinkResidual.AsSpan(0, _words);
        residual.Clear();
        for (int a = 0; a < n; a++)
        {
            if (_sinkCapacity[a] > Epsilon)
            {
                residual[a >> 6] |= 1UL << a;
            }
        }
    }

    /// <summary>Puts every arc that carried flow since the last reset back to zero flow.</summary>
    private void ResetTouched(bool clearBits)
    {
        int n = _tokens, w = _words;
        ulong[] mask = _graph.InteriorMask;
        for (int t = 0; t < _touchedCount; t++)
        {
            int arc = _touched[t];
            _flow[arc] = 0;
            if (!clearBits)
            {
                continue;
            }

            int row = arc / n, b = arc - (row * n); // row = k·n + a
            int k = row / n, a = row - (k * n);
            int word = (row * w) + (b >> 6);
            ulong bit = 1UL << b;
            _forward[word] = (_forward[word] & ~bit) | (mask[word] & bit);
            _backward[(((k * n) + b) * w) + (a >> 6)] &= ~(1UL << a);
        }

        _touchedCount = 0;
    }

    /// <summary>
    /// Breadth-first search from the source over the residual graph. Fills the level sets of the nodes closer to the
    /// source than the sink and returns the sink's distance, or −1 when the sink is not reached.
    /// </summary>
    private int Search()
    {
        int n = _tokens, w = _words, m = _interiorLayers;
        Span<ulong> reached = _reached.AsSpan(0, m * w);
        reached.Clear();
        _levelNodes.AsSpan(0, _levelsUsed * m * w).Clear();
        _levelsUsed = 0;
        UseLevels(2);
        int head = 0, tail = 0, sinkLevel = int.MaxValue;

        // The source's arcs lead to node layer m (level 1).
        int top = (m - 1) * w;
        for (int i = 0; i < w; i++)
        {
            ulong bits = _sourceResidual[i];
            reached[top + i] = bits;
            _levelNodes[LevelIndex(1, m) + i] = bits;
            tail = Enqueue(bits, i, (m - 1) * n, 1, tail);
        }

        while (head < tail)
        {
            int u = _queue[head++];
            int level = _level[u];
            if (level >= sinkLevel)
            {
                break;
            }

            int r = (u / n) + 1, a = u - ((r - 1) * n);
            if (r == 1 && (_sinkResidual[a >> 6] & (1UL << a)) != 0)
            {
                sinkLevel = level + 1;
            }

            if (level + 1 >= sinkLevel)
            {
                continue;
            }

            int next = level + 1;
            UseLevels(next + 1);

            if (r >= 2)
            {
                // Forward residual arcs down to node layer r − 1.
                int from = (((r - 2) * n) + a) * w, seen = (r - 2) * w, levelAt = LevelIndex(next, r - 1);
                for (int i = 0; i < w; i++)
                {
                    ulong bits = _forward[from + i] & ~reached[seen + i];
                    if (bits != 0)
                    {
                        reached[seen + i] |= bits;
                        _levelNodes[levelAt + i] |= bits;
                        tail = Enqueue(bits, i, (r - 2) * n, next, tail);
                    }
                }
            }

            if (r < m)
            {
                // Flow to give back, up to node layer r + 1.
                int from = (((r - 1) * n) + a) * w, seen = r * w, levelAt = LevelIndex(next, r + 1);
                for (int i = 0; i < w; i++)
                {
                    ulong bits = _backward[from + i] & ~reached[seen + i];
                    if (bits != 0)
                    {
                        reached[seen + i] |= bits;
                        _levelNodes[levelAt + i] |= bits;
                        tail = Enqueue(bits, i, r * n, next, tail);
                    }
                }
            }
        }

        return sinkLevel == int.MaxValue ? -1 : sinkLevel;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Enqueue(ulong bits, int word, int layerBase, int level, int tail)
    {
        while (bits != 0)
        {
            int node = layerBase + (word << 6) + BitOperations.TrailingZeroCount(bits);
            bits &= bits - 1;
            _level[node] = level;
            _queue[tail++] = node;
        }

        return tail;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int LevelIndex(int level, int layer) => ((level * _interiorLayers) + (layer - 1)) * _words;

    /// <summary>
    /// A blocking flow of the level graph, by depth-first search from the source that pushes as much as it can:
    /// each node on the search stack carries a limit (what its parent can still send it) and what it has passed on
    /// so far, goes down to the next level while some of its limit is left, and hands what it passed on back to its
    /// parent when it returns, so an arc shared by many paths is updated once per visit, not once per path. A node
    /// that returns with part of its limit left has no way on and leaves its level set; an arc that fills leaves the
    /// residual graph. Each visit of a child therefore ends in a dead node, a full arc or a parent with nothing left.
    /// </summary>
    private void BlockingFlow(int sinkLevel)
    {
        int n = _tokens, w = _words, m = _interiorLayers;
        int depth = 0; // frame 0 is the source
        _frameLimit[0] = double.PositiveInfinity;
        _framePushed[0] = 0;
        while (true)
        {
            double remaining = _frameLimit[depth] - _framePushed[depth];
            int nextLayer = -1, nextToken = -1, arc = 0;
            double room = 0;
            if (remaining > Epsilon)
            {
                if (depth == 0)
                {
                    int at = LevelIndex(1, m);
                    for (int i = 0; i < w; i++)
                    {
                        ulong bits = _sourceResidual[i] & _levelNodes[at + i];
                        if (bits != 0)
                        {
                            nextLayer = m;
                            nextToken = (i << 6) + BitOperations.TrailingZeroCount(bits);
                            arc = nextToken;
                            room = _graph.Source[nextToken] - _sourceFlow[nextToken];
                            break;
                        }
                    }
                }
                else
                {
                    int r = _frameLayer[depth], a = _frameToken[depth];
                    int level = _level[((r - 1) * n) + a];
                    if (r == 1 && level + 1 == sinkLevel && (_sinkResidual[a >> 6] & (1UL << a)) != 0)
                    {
                        // Into the sink: as much as the arc and the limit allow.
                        double left = _sinkCapacity[a] - _sinkFlow[a];
                        if (left - remaining <= Epsilon)
                        {
                            _sinkFlow[a] = _sinkCapacity[a];
                            _sinkResidual[a >> 6] &= ~(1UL << a);
                            _framePushed[depth] += left;
                        }
                        else
                        {
                            _sinkFlow[a] += remaining;
                            _framePushed[depth] += remaining;
                        }

                        Paths++;
                        continue;
                    }

                    if (level + 1 < sinkLevel)
                    {
                        if (r >= 2)
                        {
                            int row = ((r - 2) * n) + a, from = row * w, at = LevelIndex(level + 1, r - 1);
                            for (int i = 0; i < w; i++)
                            {
                                ulong bits = _forward[from + i] & _levelNodes[at + i];
                                if (bits != 0)
                                {
                                    nextLayer = r - 1;
                                    nextToken = (i << 6) + BitOperations.TrailingZeroCount(bits);
                                    arc = (row * n) + nextToken;
                                    room = _graph.Interior[arc] - _flow[arc];
                                    break;
                                }
                            }
                        }

                        if (nextLayer < 0 && r < m)
                        {
                            int from = (((r - 1) * n) + a) * w, at = LevelIndex(level + 1, r + 1);
                            for (int i = 0; i < w; i++)
                            {
                                ulong bits = _backward[from + i] & _levelNodes[at + i];
                                if (bits != 0)
                                {
                                    nextLayer = r + 1;
                                    nextToken = (i << 6) + BitOperations.TrailingZeroCount(bits);
                                    arc = (((((r - 1) * n) + nextToken) * n) + a);
                                    room = _flow[arc];
                                    break;
                                }
                            }
                        }
                    }
                }
            }

            if (nextLayer >= 0)
            {
                depth++;
                _frameLayer[depth] = nextLayer;
                _frameToken[depth] = nextToken;
                _frameArc[depth] = arc;
                _frameLimit[depth] = Math.Min(remaining, room);
                _framePushed[depth] = 0;
                continue;
            }

            if (depth == 0)
            {
                return;
            }

            if (remaining > Epsilon)
            {
                // No way on: a dead end for the rest of this phase.
                int r = _frameLayer[depth], a = _frameToken[depth];
                _levelNodes[LevelIndex(_level[((r - 1) * n) + a], r) + (a >> 6)] &= ~(1UL << a);
            }

            double passed = _framePushed[depth];
            depth--;
            if (passed > 0)
            {
                Push(depth, passed);
                _framePushed[depth] += passed;
            }
        }
    }

    /// <summary>Adds <paramref name="delta"/> along the arc from frame <paramref name="parent"/> to frame parent + 1.</summary>
    private void Push(int parent, double delta)
    {
        int n = _tokens, w = _words;
        int child = parent + 1, arc = _frameArc[child];
        if (parent == 0)
        {
            double capacity0 = _graph.Source[arc];
            if (capacity0 - _sourceFlow[arc] - delta <= Epsilon)
            {
                _sourceFlow[arc] = capacity0;
                _sourceResidual[arc >> 6] &= ~(1UL << arc);
            }
            else
            {
                _sourceFlow[arc] += delta;
            }

            return;
        }

        int r = _frameLayer[parent], a = _frameToken[parent], b = _frameToken[child];
        double f = _flow[arc];
        if (_frameLayer[child] < r)
        {
            // Down: more flow on (r, a) → (r − 1, b), block r − 2.
            int k = r - 2;
            if (f == 0)
            {
                Touch(arc);
            }

            _backward[(((k * n) + b) * w) + (a >> 6)] |= 1UL << a;
            double capacity = _graph.Interior[arc];
            if (capacity - f - delta <= Epsilon)
            {
                _flow[arc] = capacity;
                _forward[(((k * n) + a) * w) + (b >> 6)] &= ~(1UL << b);
            }
            else
            {
                _flow[arc] = f + delta;
            }
        }
        else
        {
            // Up: less flow on (r + 1, b) → (r, a), block r − 1.
            int k = r - 1;
            int word = (((k * n) + b) * w) + (a >> 6);
            _forward[word] |= _graph.InteriorMask[word] & (1UL << a);
            if (f - delta <= Epsilon)
            {
                _flow[arc] = 0;
                _backward[(((k * n) + a) * w) + (b >> 6)] &= ~(1UL << b);
            }
            else
            {
                _flow[arc] = f - delta;
            }
        }
    }

    private void Touch(int arc)
    {
        if (_touchedCount == _touched.Length)
        {
            Array.Resize(ref _touched, _touched.Length * 2);
        }

        _touched[_touchedCount++] = arc;
    }

    /// <summary>
    /// Capacity of the cut between the nodes the last search reached (with the source) and the rest (with the sink):
    /// source arcs into unreached nodes, interior arcs from reached to unreached nodes, and sink arcs from reached
    /// nodes. Valid after a search that did not reach the sink (it then visited everything reachable).
    /// </summary>
    private double CutCapacity()
    {
        int n = _tokens, w = _words, m = _interiorLayers;
        double cut = 0;
        ReadOnlySpan<double> source = _graph.Source;
        for (int b = 0; b < n; b++)
        {
            if (!IsReached(m, b))
            {
                cut += source[b];
            }
        }

        double[] capacity = _graph.Interior;
        for (int r = 2; r <= m; r++)
        {
            for (int a = 0; a < n; a++)
            {
                if (!IsReached(r, a))
                {
                    continue;
                }

                int row = (((r - 2) * n) + a) * n;
                for (int b = 0; b < n; b++)
                {
                    if (!IsReached(r - 1, b))
                    {
                        cut += capacity[row + b];
                    }
                }
            }
        }

        for (int a = 0; a < n; a++)
        {
            if (IsReached(1, a))
            {
                cut += _sinkCapacity[a];
            }
        }

        return cut;

        bool IsReached(int layer, int token) => (_reached[((layer - 1) * w) + (token >> 6)] & (1UL << token)) != 0;
    }

    /// <summary>
    /// Makes levels 0 … count − 1 usable: grows the level sets if needed and clears the levels not used so far in
    /// this search (a deeper earlier search may have left bits there).
    /// </summary>
    private void UseLevels(int count)
    {
        if (count <= _levelsUsed)
        {
            return;
        }

        int perLevel = _interiorLayers * _words;
        long needed = (long)count * perLevel;
        if (_levelNodes.LongLength < needed)
        {
            var grown = new ulong[Math.Max(needed, _levelNodes.LongLength * 2)];
            _levelNodes.AsSpan(0, _levelsUsed * perLevel).CopyTo(grown);
            _levelNodes = grown;
        }
        else
        {
            _levelNodes.AsSpan(_levelsUsed * perLevel, (count - _levelsUsed) * perLevel).Clear();
        }

        _levelsUsed = count;
    }

    private static void Grow<T>(ref T[] buffer, long length)
    {
        if (buffer.LongLength < length)
        {
            buffer = new T[length];
        }
    }
}
