using System.Text;

namespace VitAttention.Evaluation;

/// <summary>
/// A hash of a string that is the same on every machine, process and .NET version (unlike
/// <see cref="string.GetHashCode()"/>, which is randomised per process): 64-bit FNV-1a over the UTF-8 bytes, then
/// SplitMix64's finaliser so that every bit, the low ones included, depends on every byte.
/// </summary>
internal static class StableHash
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    /// <summary>The hash of <paramref name="text"/>.</summary>
    public static ulong Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ulong hash = FnvOffset;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * FnvPrime;
        }

        return Mix(hash);
    }

    /// <summary>SplitMix64's output function (Steele, Lea and Flood 2014): a bijection that spreads every input bit.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
