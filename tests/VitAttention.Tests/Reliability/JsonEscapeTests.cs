using System.Buffers.Binary;
using System.Text;
using VitAttention.Models;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// The escapes the fuzzer found first, fed directly: JSON values of the wrong type in a safetensors header, and text
/// that is not valid UTF-8 (or a lone surrogate escape) in headers and config files. System.Text.Json throws
/// InvalidOperationException for these on access; the library must say ModelFormatException naming the file.
/// </summary>
[TestFixture]
public sealed class JsonEscapeTests
{
    private static byte[] SafeTensors(byte[] header)
    {
        var file = new byte[8 + header.Length + 24];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        new Random(3).NextBytes(file.AsSpan(8 + header.Length));
        return file;
    }

    [TestCase("\"x\"")]
    [TestCase("null")]
    [TestCase("{}")]
    [TestCase("[1,2]")]
    public void FromBytes_OffsetOfWrongJsonType_ThrowsModelFormatNamingSource(string offset)
    {
        byte[] header = Encoding.UTF8.GetBytes($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,{offset}]}}}}");
        Assert.That(() => SafeTensorsFile.FromBytes(SafeTensors(header), "wrong-type.safetensors"),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("wrong-type.safetensors"));
    }

    [Test]
    public void FromBytes_TensorNameNotUtf8_ThrowsModelFormatNamingSource()
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"w?\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}");
        header[Array.IndexOf(header, (byte)'?')] = 0xC3; // a lead byte with no continuation
        Assert.That(() => SafeTensorsFile.FromBytes(SafeTensors(header), "bad-utf8.safetensors"),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("bad-utf8.safetensors"));
    }

    [TestCase("config.json", "\"espresso\"", "\"\\ud800\"")]
    [TestCase("preprocessor_config.json", "\"ViTImageProcessor\"", "\"\\ud800x\"")]
    [TestCase("config.json", "\"vit\"", "\"v\u00e9t\"")] // replaced below by a broken UTF-8 sequence
    public void FromFolder_StringNotDecodable_ThrowsModelFormatNamingFile(string file, string original, string replacement)
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            foreach (string name in new[] { "config.json", "preprocessor_config.json" })
            {
                File.Copy(Path.Combine(FixturePaths.HfFolder, name), Path.Combine(folder, name));
            }

            string path = Path.Combine(folder, file);
            byte[] text = Encoding.UTF8.GetBytes(File.ReadAllText(path).Replace(original, replacement, StringComparison.Ordinal));
            if (replacement.Contains('\u00e9', StringComparison.Ordinal))
            {
                int at = Array.IndexOf(text, (byte)0xC3);
                text[at + 1] = (byte)'x'; // 0xC3 followed by an ASCII byte: invalid UTF-8
            }

            File.WriteAllBytes(path, text);
            Assert.That(() => VitConfigLoader.FromFolder(folder),
                Throws.TypeOf<ModelFormatException>().With.Message.Contains(file));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
