using Onnx;

namespace VitAttention.Onnx;

/// <summary>Producers, consumers and depths of the nodes of an ONNX graph.</summary>
internal static class GraphTopology
{
    /// <summary>
    /// Who reads each value (<c>consumers</c>: node and input index) and which node writes it (<c>producer</c>: node
    /// index). Empty names (omitted optional inputs and outputs) are skipped.
    /// </summary>
    internal static (Dictionary<string, List<(NodeProto Node, int Index)>> Consumers, Dictionary<string, int> Producer) Links(GraphProto graph)
    {
        var consumers = new Dictionary<string, List<(NodeProto Node, int Index)>>(StringComparer.Ordinal);
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            NodeProto node = graph.Node[i];
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k].Length == 0)
                {
                    continue;
                }

                if (!consumers.TryGetValue(node.Input[k], out var list))
                {
                    consumers[node.Input[k]] = list = [];
                }

                list.Add((node, k));
            }

            foreach (string output in node.Output)
            {
                if (output.Length > 0)
                {
                    producer[output] = i;
                }
            }
        }

        return (consumers, producer);
    }

    // Longest path from the graph inputs, by Kahn's algorithm (iterative: no recursion on deep graphs).
    internal static int[] Depths(GraphProto graph, Dictionary<string, int> producer, string source)
    {
        int n = graph.Node.Count;
        var successors = new List<int>[n];
        var indegree = new int[n];
        for (int i = 0; i < n; i++)
        {
            successors[i] = [];
        }

        for (int i = 0; i < n; i++)
        {
            var preds = new HashSet<int>();
            foreach (string inputName in graph.Node[i].Input)
            {
                if (inputName.Length > 0 && producer.TryGetValue(inputName, out int p) && p != i)
                {
                    preds.Add(p);
                }
            }

            foreach (int p in preds)
            {
                successors[p].Add(i);
            }

            indegree[i] = preds.Count;
        }

        var depth = new int[n];
        var ready = new Queue<int>(Enumerable.Range(0, n).Where(i => indegree[i] == 0));
        int done = 0;
        while (ready.Count > 0)
        {
            int i = ready.Dequeue();
            done++;
            foreach (int j in successors[i])
            {
                depth[j] = Math.Max(depth[j], depth[i] + 1);
                if (--indegree[j] == 0)
                {
                    ready.Enqueue(j);
                }
            }
        }

        if (done != n)
        {
            throw new ModelFormatException($"{source}: the graph has a cycle; it is not a valid ONNX model. Export it again.");
        }

        return depth;
    }
}
