using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// A small seeded mutation generator: bit flips, byte sets, inserts, deletes, truncation, splices, integer
/// overwrites, and per format header-length edits (safetensors), JSON number and string edits (config files and the
/// safetensors header), image size edits (PNG IHDR with its CRC fixed, JPEG SOF). Every edit is described in
/// <see cref="Mutated.Steps"/> so a failing case can be read and replayed from its seed alone.
/// </summary>
internal static partial class Mutator
{
    private static readonly long[] InterestingIntegers =
    [
        0, 1, -1, 2, 3, 7, 8, 255, 256, 65535, 65536, int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue,
        (long)uint.MaxValue + 1, long.MaxValue, long.MinValue, int.MinValue, 100_000_001, 1L << 40,
    ];

    private static readonly string[] InterestingJsonValues =
    [
        "0", "-1", "1", "2", "3", "5", "7", "16", "47", "49", "65536", "2147483647", "2147483648", "-2147483649",
        "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e308", "1e999", "-1e999", "-0", "0.5",
        "1.5", "NaN", "null", "\"x\"", "\"\"", "[]", "{}", "[1,2]", "true", "false", "1e-320", "4.0000001",
    ];

    private static readonly string[] InterestingJsonStrings =
    [
        "\"\"", "\"F16\"", "\"BF16\"", "\"F64\"", "\"F32\"", "\"I64\"", "\"U8\"", "\"BOOL\"", "\"vit\"", "\"deit\"",
        "\"x\"", "\"\\u0000\"", "\"\\ud800\"", "\"vit_base_patch16_224\"", "\"vit_tiny_patch7_13\"", "\"bicubic\"", "\"nearest\"",
    ];

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][+-]?\d+)?")]
    private static partial Regex JsonNumber();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex JsonString();

    /// <summary>Mutates <paramref name="original"/> with 1 to 4 edits chosen by <paramref name="seed"/>.</summary>
    public static Mutated Mutate(FuzzFormat format, byte[] original, IReadOnlyList<byte[]> donors, int seed)
    {
        var rng = new Random(seed);
        var data = new List<byte>(original);
        var steps = new List<string>();
        int edits = 1 + (rng.Next(8) switch { < 4 => 0, < 6 => 1, 6 => 2, _ => 3 });
        for (int e = 0; e < edits; e++)
        {
            int pick = rng.Next(100);
            bool structured = format switch
            {
                FuzzFormat.ConfigJson or FuzzFormat.PreprocessorJson => pick < 75,
                FuzzFormat.SafeTensors => pick < 55,
                FuzzFormat.Image => pick < 25,
                _ => false,
            };
            string step = structured ? Structured(format, data, rng) : ByteEdit(data, donors, rng);
            steps.Add(step);
        }

        return new Mutated([.. data], steps);
    }

    /// <summary>A generic byte-level edit, returning its description.</summary>
    public static string ByteEdit(List<byte> data, IReadOnlyList<byte[]> donors, Random rng)
    {
        int n = data.Count;
        switch (rng.Next(8))
        {
            case 0 when n > 0:
            {
                int pos = rng.Next(n), bit = rng.Next(8);
                data[pos] ^= (byte)(1 << bit);
                return $"flip bit {bit} at {pos}";
            }

            case 1 when n > 0:
            {
                int pos = rng.Next(n);
                byte value = rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x7F, _ => (byte)rng.Next(256) };
                data[pos] = value;
                return $"set byte {pos} = 0x{value:X2}";
            }

            case 2:
            {
                int pos = rng.Next(n + 1), count = 1 + rng.Next(rng.Next(2) == 0 ? 4 : 256);
                var bytes = new byte[count];
                rng.NextBytes(bytes);
                data.InsertRange(pos, bytes);
                return $"insert {count} random bytes at {pos}";
            }

            case 3 when n > 0:
            {
                int pos = rng.Next(n), count = Math.Min(n - pos, 1 + rng.Next(rng.Next(2) == 0 ? 8 : 4096));
                data.RemoveRange(pos, count);
                return $"delete {count} bytes at {pos}";
            }

            case 4:
            {
                int keep = rng.Next(2) == 0 ? rng.Next(Math.Min(n, 64) + 1) : rng.Next(n + 1);
                data.RemoveRange(keep, n - keep);
                return $"truncate to {keep} bytes";
            }

            case 5 when donors.Count > 0:
            {
                int d = rng.Next(donors.Count);
                byte[] donor = donors[d];
                if (donor.Length == 0)
                {
                    return "splice skipped (empty donor)";
                }

                int from = rng.Next(donor.Length), count = Math.Min(donor.Length - from, 1 + rng.Next(2048));
                int to = rng.Next(n + 1);
                bool overwrite = rng.Next(2) == 0;
                if (overwrite)
                {
                    int over = Math.Min(count, n - to);
                    data.RemoveRange(to, over);
                }

                data.InsertRange(to, donor.AsSpan(from, count).ToArray());
                return $"splice {count} bytes of donor {d} from {from} {(overwrite ? "over" : "into")} {to}";
            }

            case 6 when n >= 8:
            {
                int width = rng.Next(2) == 0 ? 4 : 8, pos = rng.Next(n - width + 1);
                long value = InterestingIntegers[rng.Next(InterestingIntegers.Length)];
                var bytes = new byte[8];
                if (rng.Next(2) == 0)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
                }
                else
                {
                    BinaryPrimitives.WriteInt64BigEndian(bytes, value << (width == 4 ? 32 : 0));
                }

                for (int i = 0; i < width; i++)
                {
                    data[pos + i] = bytes[i];
                }

                return $"overwrite {width}-byte integer at {pos} with {value}";
            }

            case 7 when n > 0:
            {
                // Duplicate a block in place (repeated chunks, markers, tensors).
                int pos = rng.Next(n), count = Math.Min(n - pos, 1 + rng.Next(512));
                data.InsertRange(pos, data.GetRange(pos, count));
                return $"duplicate {count} bytes at {pos}";
            }

            default:
                return "no-op (edit did not apply to this length)";
        }
    }

    private static string Structured(FuzzFormat format, List<byte> data, Random rng) => format switch
    {
        FuzzFormat.SafeTensors => SafeTensorsEdit(data, rng),
        FuzzFormat.ConfigJson or FuzzFormat.PreprocessorJson => JsonEdit(data, rng),
        FuzzFormat.Image => ImageSizeEdit(data, rng),
        _ => "no structured edit",
    };

    private static string SafeTensorsEdit(List<byte> data, Random rng)
    {
        if (data.Count < 8)
        {
            return "safetensors edit skipped (shorter than 8 bytes)";
        }

        var prefix = data.GetRange(0, 8).ToArray();
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (rng.Next(3) == 0 || headerLength > (ulong)(data.Count - 8))
        {
            ulong fileLength = (ulong)data.Count;
            ulong[] values =
            [
                0, 1, 2, 7, headerLength - 1, headerLength + 1, fileLength, fileLength - 8, fileLength - 7, 1UL << 31,
                1UL << 32, 1UL << 63, ulong.MaxValue, 100_000_001, 99_999_999, headerLength * 2,
            ];
            ulong value = values[rng.Next(values.Length)];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, value);
            for (int i = 0; i < 8; i++)
            {
                data[i] = prefix[i];
            }

            return $"set header length {headerLength} -> {value}";
        }

        // Edit the header JSON and re-pack it with its new length, so the edit reaches the validation of entries.
        var header = new List<byte>(data.GetRange(8, (int)headerLength));
        string step = JsonEdit(header, rng);
        var rebuilt = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(rebuilt, (ulong)header.Count);
        data.RemoveRange(0, 8 + (int)headerLength);
        data.InsertRange(0, rebuilt.Concat(header));
        return "header " + step;
    }

    /// <summary>Replaces a JSON number or string token, deletes or duplicates a line, or nests a value.</summary>
    private static string JsonEdit(List<byte> data, Random rng)
    {
        string text = Encoding.UTF8.GetString([.. data]);
        string result;
        string step;
        int kind = rng.Next(10);
        if (kind < 5)
        {
            var matches = JsonNumber().Matches(text);
            if (matches.Count == 0)
            {
                return "json number edit skipped (no number)";
            }

            Match m = matches[rng.Next(matches.Count)];
            string value = InterestingJsonValues[rng.Next(InterestingJsonValues.Length)];
            result = string.Concat(text.AsSpan(0, m.Index), value, text.AsSpan(m.Index + m.Length));
            step = $"json number '{m.Value}' at {m.Index} -> {value}";
        }
        else if (kind < 8)
        {
            var matches = JsonString().Matches(text);
            if (matches.Count == 0)
            {
                return "json string edit skipped (no string)";
            }

            Match m = matches[rng.Next(matches.Count)];
            string value = rng.Next(3) == 0
                ? matches[rng.Next(matches.Count)].Value
                : rng.Next(5) == 0 ? InterestingJsonValues[rng.Next(InterestingJsonValues.Length)] : InterestingJsonStrings[rng.Next(InterestingJsonStrings.Length)];
            result = string.Concat(text.AsSpan(0, m.Index), value, text.AsSpan(m.Index + m.Length));
            step = $"json string {m.Value} at {m.Index} -> {value}";
        }
        else
        {
            // Delete or duplicate a separator-delimited element (a line in pretty JSON, an entry in compact JSON).
            var cuts = new List<int> { 0 };
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] is ',' or '\n')
                {
                    cuts.Add(i + 1);
                }
            }

            cuts.Add(text.Length);
            int a = rng.Next(cuts.Count - 1);
            int start = cuts[a], end = cuts[a + 1];
            if (kind == 8)
            {
                result = text.Remove(start, end - start);
                step = $"json delete element [{start}, {end})";
            }
            else
            {
                result = text.Insert(start, text[start..end]);
                step = $"json duplicate element [{start}, {end})";
            }
        }

        data.Clear();
        data.AddRange(Encoding.UTF8.GetBytes(result));
        return step;
    }

    /// <summary>Sets the claimed size of a PNG (IHDR, CRC recomputed) or JPEG (first SOF marker).</summary>
    private static string ImageSizeEdit(List<byte> data, Random rng)
    {
        long[] sizes = [0, 1, 2, 3, 65535, 40000, 1 << 20, int.MaxValue, uint.MaxValue, 7];
        uint NextSize() => (uint)sizes[rng.Next(sizes.Length)];
        bool png = data.Count >= 33 && data[1] == (byte)'P' && data[2] == (byte)'N' && data[3] == (byte)'G';
        if (png)
        {
            var ihdr = data.GetRange(12, 17).ToArray(); // "IHDR" + width, height, depth, colour, compression, filter, interlace
            int field = rng.Next(4);
            string step;
            if (field < 2)
            {
                uint value = NextSize();
                BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4 + (field * 4)), value);
                step = $"png IHDR {(field == 0 ? "width" : "height")} -> {value}";
            }
            else if (field == 2)
            {
                byte depth = (byte)(new[] { 1, 2, 4, 8, 16, 3, 0, 255 })[rng.Next(8)];
                ihdr[12] = depth;
                step = $"png IHDR bit depth -> {depth}";
            }
            else
            {
                byte colour = (byte)(new[] { 0, 2, 3, 4, 6, 1, 5, 7 })[rng.Next(8)];
                ihdr[13] = colour;
                step = $"png IHDR colour type -> {colour}";
            }

            for (int i = 0; i < ihdr.Length; i++)
            {
                data[12 + i] = ihdr[i];
            }

            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, PngCrc(ihdr));
            for (int i = 0; i < 4; i++)
            {
                data[29 + i] = crc[i];
            }

            return step + " (CRC fixed)";
        }

        for (int i = 2; i + 8 < data.Count; i++)
        {
            if (data[i] == 0xFF && data[i + 1] is 0xC0 or 0xC1 or 0xC2)
            {
                bool height = rng.Next(2) == 0;
                ushort value = (ushort)NextSize();
                int at = i + (height ? 5 : 7);
                data[at] = (byte)(value >> 8);
                data[at + 1] = (byte)value;
                return $"jpeg SOF {(height ? "height" : "width")} at {at} -> {value}";
            }
        }

        return "image size edit skipped (no PNG IHDR or JPEG SOF)";
    }

    /// <summary>The CRC-32 (polynomial 0xEDB88320) PNG chunks carry over their type and data.</summary>
    private static uint PngCrc(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}
