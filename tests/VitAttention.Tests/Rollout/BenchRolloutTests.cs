using System.Reflection;
using System.Text.Json;

namespace VitAttention.Tests.Rollout;

/// <summary>
/// The shape of <c>vit-attention bench rollout --json</c>, which scripts parse. The CLI's types are internal, so the
/// test reaches them by name through the referenced CLI assembly.
/// </summary>
public class BenchRolloutTests
{
    [Test]
    public void ToJson_SmallShape_HasTheDocumentedKeysInOrder()
    {
        Type bench = Assembly.Load("vit-attention").GetType("VitAttention.Cli.BenchRollout", throwOnError: true)!;
        object result = bench.GetMethod("Run")!.Invoke(null, [2, 3, 17, 2])!;
        string json = (string)bench.GetMethod("ToJson")!.Invoke(null, [result])!;

        using JsonDocument doc = JsonDocument.Parse(json);
        string[] keys = [.. doc.RootElement.EnumerateObject().Select(p => p.Name)];
        Assert.That(keys, Is.EqualTo(new[] { "layers", "heads", "tokens", "fullMs", "rowMs", "floorMs", "scalarMs", "allocatedBytesPerCall" }));
        Assert.That(doc.RootElement.GetProperty("layers").GetInt32(), Is.EqualTo(2));
        Assert.That(doc.RootElement.GetProperty("heads").GetInt32(), Is.EqualTo(3));
        Assert.That(doc.RootElement.GetProperty("tokens").GetInt32(), Is.EqualTo(17));
        Assert.That(doc.RootElement.GetProperty("fullMs").GetDouble(), Is.GreaterThan(0));
        Assert.That(doc.RootElement.GetProperty("rowMs").GetDouble(), Is.GreaterThan(0));
        Assert.That(doc.RootElement.GetProperty("allocatedBytesPerCall").GetDouble(), Is.Zero);
        Assert.That(json, Does.Not.Contain("\n"));
    }
}
