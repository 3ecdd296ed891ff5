using System.Globalization;

namespace VitAttention.Tests.Reliability;

/// <summary>Managed heap after a full collection, and the process's resident set size from /proc (or the OS's working set).</summary>
internal static class MemoryProbe
{
    public static long ManagedBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    public static long ResidentBytes() => StatusKiB("VmRSS:") is { } kib ? kib * 1024 : Environment.WorkingSet;

    public static long PeakResidentBytes() => StatusKiB("VmHWM:") is { } kib ? kib * 1024 : Environment.WorkingSet;

    private static long? StatusKiB(string key)
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return null;
        }

        foreach (string line in File.ReadLines(Status))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                string[] parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}
