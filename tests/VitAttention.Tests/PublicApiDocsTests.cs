using System.Reflection;
using System.Xml.Linq;
using SkiaSharp;

namespace VitAttention.Tests;

/// <summary>
/// The public surface documents what a caller needs: every parameter of every public method has a &lt;param&gt;, and
/// every method that returns a Skia image says who disposes it.
/// </summary>
public sealed class PublicApiDocsTests
{
    private static readonly Assembly Library = typeof(AttentionRollout).Assembly;

    private static Dictionary<string, XElement> Members()
    {
        string xml = Path.Combine(TestContext.CurrentContext.TestDirectory, "VitAttention.xml");
        return XDocument.Load(xml).Descendants("member").ToDictionary(m => (string)m.Attribute("name")!, m => m);
    }

    private static IEnumerable<MethodBase> PublicMethods() =>
        Library.GetExportedTypes()
            .Where(t => !typeof(Delegate).IsAssignableFrom(t))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => !m.IsSpecialName || m.Name.StartsWith("op_", StringComparison.Ordinal))
                .Cast<MethodBase>()
                .Concat(t.GetConstructors(BindingFlags.Public | BindingFlags.Instance)))
            .Where(m => m.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>() is null)
            .Where(m => m.DeclaringType!.GetMethod("<Clone>$") is null || !IsRecordMember(m));

    /// <summary>Members a record generates (equality, printing, deconstruction, the primary constructor) are documented by the record's own param tags.</summary>
    private static bool IsRecordMember(MethodBase m) =>
        m.Name is "Equals" or "GetHashCode" or "ToString" or "PrintMembers" or "Deconstruct" or "op_Equality" or "op_Inequality" or ".ctor";

    [Test]
    public void EveryPublicMethod_DocumentsEveryParameter()
    {
        var members = Members();
        var missing = new List<string>();
        int checkedMethods = 0;
        foreach (MethodBase method in PublicMethods())
        {
            var parameters = method.GetParameters();
            if (parameters.Length == 0 || method.DeclaringType!.IsEnum)
            {
                continue;
            }

            checkedMethods++;
            string id = DocId(method);
            if (!members.TryGetValue(id, out XElement? doc))
            {
                missing.Add($"{id}: no documentation");
                continue;
            }

            if (doc.Element("inheritdoc") is not null)
            {
                continue;
            }

            var documented = doc.Elements("param").Select(p => (string?)p.Attribute("name")).ToHashSet();
            foreach (var p in parameters.Where(p => !documented.Contains(p.Name)))
            {
                missing.Add($"{id}: no <param name=\"{p.Name}\">");
            }
        }

        Assert.That(checkedMethods, Is.GreaterThan(40));
        Assert.That(missing, Is.Empty, string.Join("\n", missing));
    }

    [Test]
    public void EveryMethodReturningASkiaImage_SaysWhoDisposesIt()
    {
        var members = Members();
        var silent = PublicMethods().OfType<MethodInfo>()
            .Where(m => typeof(SKImage).IsAssignableFrom(m.ReturnType) || typeof(SKBitmap).IsAssignableFrom(m.ReturnType))
            .Where(m => !members.TryGetValue(DocId(m), out var doc) || !doc.Value.Contains("dispose", StringComparison.OrdinalIgnoreCase))
            .Select(DocId).ToList();
        Assert.That(silent, Is.Empty, string.Join("\n", silent));
    }

    /// <summary>The documentation id of a method, as the compiler writes it in the XML file.</summary>
    private static string DocId(MethodBase method)
    {
        string type = TypeId(method.DeclaringType!);
        string name = method is ConstructorInfo ? "#ctor" : method.Name;
        if (method.IsGenericMethod)
        {
            name += "``" + method.GetGenericArguments().Length;
        }

        var parameters = method.GetParameters();
        string args = parameters.Length == 0 ? "" : "(" + string.Join(",", parameters.Select(p => ParameterId(p.ParameterType, method))) + ")";
        string conversion = method.Name is "op_Implicit" or "op_Explicit" ? "~" + ParameterId(((MethodInfo)method).ReturnType, method) : "";
        return $"M:{type}.{name}{args}{conversion}";
    }

    private static string TypeId(Type t) => (t.FullName ?? t.Name).Replace('+', '.');

    private static string ParameterId(Type t, MethodBase method)
    {
        if (t.IsByRef)
        {
            return ParameterId(t.GetElementType()!, method) + "@";
        }

        if (t.IsArray)
        {
            return ParameterId(t.GetElementType()!, method) + "[]";
        }

        if (t.IsGenericParameter)
        {
            return t.DeclaringMethod is not null ? "``" + t.GenericParameterPosition : "`" + t.GenericParameterPosition;
        }

        if (t.IsGenericType)
        {
            string name = t.GetGenericTypeDefinition().FullName!;
            name = name[..name.IndexOf('`')];
            return name.Replace('+', '.') + "{" + string.Join(",", t.GetGenericArguments().Select(a => ParameterId(a, method))) + "}";
        }

        return TypeId(t);
    }
}
