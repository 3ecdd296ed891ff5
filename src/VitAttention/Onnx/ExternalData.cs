using System.Globalization;
using Google.Protobuf;
using Onnx;

namespace VitAttention.Onnx;

/// <summary>Reads the external data files of an ONNX model (weights kept beside the .onnx file) into its initializers.</summary>
internal static class ExternalData
{
    /// <summary>Reads every external tensor into the model; returns the full paths of the data files read.</summary>
    internal static IReadOnlyList<string> Inline(OnnxModelBytes model, string? folder, string source, long modelBytes)
    {
        var external = model.Initializers.Select((t, i) => (Tensor: t, Index: i))
            .Where(x => x.Tensor.DataLocation == TensorProto.Types.DataLocation.External).ToList();
        var files = new List<string>();
        if (external.Count == 0)
        {
            return files;
        }

        if (folder is null)
        {
            throw new ModelFormatException(
                $"{source}: the model keeps {external.Count} weight tensor(s) in external data files (the first is " +
                $"'{external[0].Tensor.Name}'), which cannot be read from bytes alone. Load it from its file " +
                "(OnnxModelLoader.PrepareOnnx(path)) so the files beside it are found, or set ExposeOptions.ExternalDataFolder.");
        }

        string root = Path.GetFullPath(folder);
        string rootWithSlash = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        long total = modelBytes;
        foreach ((TensorProto stub, int index) in external)
        {
            TensorProto t = stub.Clone();
            string? location = null;
            long offset = 0;
            long? length = null;
            foreach (StringStringEntryProto entry in t.ExternalData)
            {
                switch (entry.Key)
                {
                    case "location":
                        location = entry.Value;
                        break;
                    case "offset":
                        offset = ParseNumber(entry.Value, "offset", t.Name, source);
                        break;
                    case "length":
                        length = ParseNumber(entry.Value, "length", t.Name, source);
                        break;
                    default:
                        break;
                }
            }

            if (string.IsNullOrEmpty(location))
            {
                throw new ModelFormatException($"{source}: tensor '{t.Name}' is marked external but names no location file; export the model again.");
            }

            string file = Path.GetFullPath(Path.Combine(root, location));
            if (!file.StartsWith(rootWithSlash, StringComparison.Ordinal))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' names external data '{location}', which is outside the model's folder {root}; refusing to read it.");
            }

            if (!File.Exists(file))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' is stored in the external data file '{location}', which is missing from {root}; " +
                    "copy it beside the .onnx file (it is downloaded with the model, often as model.onnx_data).");
            }

            long fileLength = new FileInfo(file).Length;
            long count = 1;
            foreach (long d in t.Dims)
            {
                if (d < 0 || (d > 0 && count > long.MaxValue / d))
                {
                    throw new ModelFormatException($"{source}: tensor '{t.Name}' has an invalid shape [{string.Join(", ", t.Dims)}].");
                }

                count *= d;
            }

            int size = GraphEdit.ElementSize(t.DataType);
            long len = length ?? fileLength - offset;
            if (offset > fileLength || len < 0 || offset + len > fileLength)
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' lies at bytes {offset}..{offset + len} of '{location}', beyond its end " +
                    $"({fileLength} bytes): the external data file is truncated or belongs to another export; download it again.");
            }

            if (size > 0 && (count > long.MaxValue / size || count * size != len))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' of shape [{string.Join(", ", t.Dims)}] needs {count * size} bytes but its " +
                    $"external data entry in '{location}' has {len}: the data file does not match the model.");
            }

            total += len;
            if (total > int.MaxValue)
            {
                throw new ModelFormatException(
                    $"{source}: the model with its external data exceeds 2 GB, more than one ONNX protobuf can hold; " +
                    "models this large are not supported by attention exposure.");
            }

            if (!files.Contains(file))
            {
                files.Add(file);
            }

            byte[] data = new byte[len];
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                stream.Seek(offset, SeekOrigin.Begin);
                stream.ReadExactly(data);
            }

            t.RawData = UnsafeByteOperations.UnsafeWrap(data);
            t.ExternalData.Clear();
            t.DataLocation = TensorProto.Types.DataLocation.Default;
            model.ReplaceInitializer(index, t);
        }

        return files;
    }

    internal static long ParseNumber(string text, string key, string tensor, string source) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new ModelFormatException($"{source}: tensor '{tensor}' has external data {key} '{text}', which is not a non-negative integer.");
}
