using System.Buffers.Binary;
using System.Text;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

public class SafeTensorsTests
{
    private static byte[] Build(string headerJson, int dataBytes, ulong? claimedLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        new Random(7).NextBytes(bytes.AsSpan(8 + header.Length));
        return bytes;
    }

    private static string Message(byte[] bytes) =>
        Assert.Throws<ModelFormatException>(() => SafeTensorsFile.FromBytes(bytes, "bad.safetensors").Dispose())!.Message;

    [TestCase("tiny-vit-hf", "vit.embeddings.cls_token", new long[] { 1, 1, 48 })]
    [TestCase("tiny-vit-timm", "blocks.0.attn.qkv.weight", new long[] { 144, 48 })]
    public void Open_Fixture_ListsTensorsWithShapes(string folder, string name, long[] shape)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(FixturePaths.Folder(folder), "model.safetensors"));
        Assert.That(file.Info(name).Shape, Is.EqualTo(shape));
        Assert.That(file.ReadFloat32(name), Has.Length.EqualTo(shape.Aggregate(1L, (a, b) => a * b)));
    }

    [Test]
    public void ReadFloat64_ExpectedFixture_RowsOfAttentionSumToOne()
    {
        using var file = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        Assert.That(file.Info("attentions.0").DType, Is.EqualTo(SafeTensorDType.F64));
        double[] a = file.ReadFloat64("attentions.0"); // [2, 4, 17, 17]
        Assert.That(a, Has.Length.EqualTo(2 * 4 * 17 * 17));
        for (int row = 0; row < 2 * 4 * 17; row++)
        {
            Assert.That(a.Skip(row * 17).Take(17).Sum(), Is.EqualTo(1.0).Within(1e-9));
        }
    }

    [Test]
    public void Writer_RoundTrip_KeepsNamesShapesAndValues()
    {
        var rng = new Random(11);
        float[] a = Enumerable.Range(0, 6).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] b = Enumerable.Range(0, 5).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        byte[] bytes = SafeTensorsWriter.ToBytes([("a", [2, 3], a), ("b.c", [5], b)]);
        using var file = SafeTensorsFile.FromBytes(bytes);
        Assert.That(file.ReadFloat32("a"), Is.EqualTo(a));
        Assert.That(file.ReadFloat32("b.c"), Is.EqualTo(b));
        Assert.That(file.Info("a").Shape, Is.EqualTo(new long[] { 2, 3 }));
    }

    [Test]
    public void ReadFloat32_HalfAndBFloat16_ConvertExactly()
    {
        float[] values = [1.5f, -2.25f, 0.0009765625f, 65504f];
        var f16 = new byte[values.Length * 2];
        var bf16 = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(f16.AsSpan(i * 2), (Half)values[i]);
            BinaryPrimitives.WriteUInt16LittleEndian(bf16.AsSpan(i * 2), (ushort)(BitConverter.SingleToInt32Bits(values[i]) >> 16));
        }

        string header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}";
        byte[] bytes = Build(header, 16);
        f16.CopyTo(bytes, bytes.Length - 16);
        bf16.CopyTo(bytes, bytes.Length - 8);
        using var file = SafeTensorsFile.FromBytes(bytes);
        Assert.That(file.ReadFloat32("h"), Is.EqualTo(values));
        // bfloat16 keeps 8 mantissa bits: these four values are exactly representable except 65504 → 65280.
        Assert.That(file.ReadFloat32("b"), Is.EqualTo(new[] { 1.5f, -2.25f, 0.0009765625f, 65280f }));
    }

    [Test]
    public void Open_ShorterThanLengthField_SaysTruncated() =>
        Assert.That(Message([1, 2, 3]), Does.Contain("bad.safetensors").And.Contain("truncated"));

    [Test]
    public void Open_HeaderLengthBeyondFile_SaysTruncated() =>
        Assert.That(Message(Build("{}", 0, claimedLength: 4096)), Does.Contain("4096").And.Contain("truncated"));

    [Test]
    public void Open_HeaderLengthAbsurd_RejectedBeforeAllocating() =>
        Assert.That(Message(Build("{}", 0, claimedLength: ulong.MaxValue - 3)), Does.Contain("limit"));

    [Test]
    public void Open_HeaderNotJson_SaysSo() =>
        Assert.That(Message(Build("{not json", 0)), Does.Contain("not valid JSON"));

    [Test]
    public void Open_OffsetsOutOfRange_Named() =>
        Assert.That(Message(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,64]}}", 16)),
            Does.Contain("'w'").And.Contain("outside"));

    [Test]
    public void Open_OverlappingTensors_Named() =>
        Assert.That(Message(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)),
            Does.Contain("overlap"));

    [Test]
    public void Open_HoleBetweenTensors_Named() =>
        Assert.That(Message(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12)),
            Does.Contain("hole").And.Contain("'b'"));

    [Test]
    public void Open_ShapeTimesDtypeDiffersFromBytes_Named() =>
        Assert.That(Message(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)),
            Does.Contain("'w'").And.Contain("needs 12 bytes"));

    [Test]
    public void Open_HugeShape_RejectedWithoutOverflow() =>
        Assert.That(Message(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8)),
            Does.Contain("'w'"));

    [Test]
    public void Open_DuplicateNames_Named() =>
        Assert.That(Message(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)),
            Does.Contain("'a' twice"));

    [Test]
    public void Open_UnsupportedDtype_SaysConvert() =>
        Assert.That(Message(Build("{\"w\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8)),
            Does.Contain("I32").And.Contain("convert"));

    [Test]
    public void ReadInt64_IndexBuffer_ReadsIntegersAndRefusesToBeReadAsFloats()
    {
        // A checkpoint's I64 index buffer (CLIP position_ids, BEiT relative_position_index): [3] = 7, −2, 2^40.
        long[] values = [7, -2, 1L << 40];
        byte[] data = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        string header = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}";
        byte[] headerBytes = System.Text.Encoding.UTF8.GetBytes(header);
        byte[] file = [.. BitConverter.GetBytes((long)headerBytes.Length), .. headerBytes, .. data];
        using var reader = SafeTensorsFile.FromBytes(file);

        Assert.That(reader.ReadInt64("ids"), Is.EqualTo(values));
        Assert.That(reader.Info("ids").DType, Is.EqualTo(SafeTensorDType.I64));
        var e = Assert.Throws<ModelFormatException>(() => reader.ReadFloat32("ids"))!;
        Assert.That(e.Message, Does.Contain("ids").And.Contain("ReadInt64"));
    }

    [Test]
    public void Open_TrailingData_Rejected() =>
        Assert.That(Message(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8)),
            Does.Contain("trailing"));

    [Test]
    public void Info_MissingTensor_NamesItAndArchitecture()
    {
        using var file = SafeTensorsFile.Open(Path.Combine(FixturePaths.HfFolder, "model.safetensors"));
        var ex = Assert.Throws<ModelFormatException>(() => file.Info("vit.pooler.dense.weight"));
        Assert.That(ex!.Message, Does.Contain("vit.pooler.dense.weight").And.Contain("missing"));
    }

    [Test]
    public void Open_TruncatedFixture_Rejected()
    {
        byte[] full = File.ReadAllBytes(Path.Combine(FixturePaths.HfFolder, "model.safetensors"));
        Assert.That(Message(full[..(full.Length - 100)]), Does.Contain("truncated"));
    }
}
