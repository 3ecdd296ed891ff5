using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace VitAttention.Tests.Hub;

/// <summary>One request the fake hub received.</summary>
internal sealed record RecordedRequest(string Method, string Path, string? Range, string? Authorization);
