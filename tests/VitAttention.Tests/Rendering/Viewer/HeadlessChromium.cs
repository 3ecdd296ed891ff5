using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>
/// Debian's headless Chromium driven over the Chrome DevTools Protocol from C# (a WebSocket, no Node): launched with a
/// fresh profile and <c>--remote-debugging-port=0</c>, its port read from the profile's DevToolsActivePort file.
/// One browser per test fixture; <see cref="DisposeAsync"/> ends the process tree it started and deletes the profile.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    /// <summary>The environment variable that names the browser executable, overriding the search on PATH.</summary>
    public const string ExecutableVariable = "VITATTENTION_CHROMIUM";

    public const string InstallHint =
        "The viewer's browser tests need Chromium: install it with `apt-get install -y chromium` (CI's .ci/run does), " +
        $"or set {ExecutableVariable} to a Chromium or Chrome executable.";

    private static readonly string[] Names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly StringBuilder _stderr = new();
    private Task? _receiver;
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>JavaScript exceptions and console errors any page reported, as text.</summary>
    public ConcurrentQueue<string> PageErrors { get; } = new();

    /// <summary>The browser executable: <see cref="ExecutableVariable"/>, else the first known name on PATH; null if none.</summary>
    public static string? FindExecutable() =>
        FindExecutable(Environment.GetEnvironmentVariable(ExecutableVariable), Environment.GetEnvironmentVariable("PATH"));

    /// <summary>The browser executable given the variable's value and a PATH; null if none.</summary>
    public static string? FindExecutable(string? configured, string? searchPath)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured) ? configured : null;
        }

        foreach (string folder in (searchPath ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string name in Names)
            {
                string candidate = Path.Combine(folder, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>Starts the browser and connects to it; fails the test with <see cref="InstallHint"/> when there is none.</summary>
    public static async Task<HeadlessChromium> LaunchAsync()
    {
        string? executable = FindExecutable();
        if (executable is null)
        {
            Assert.Fail(InstallHint);
        }

        string profile = Path.Combine(Path.GetTempPath(), "vitattention-chromium-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(profile);
        var start = new ProcessStartInfo(executable!)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--hide-scrollbars", "--mute-audio", "--force-device-scale-factor=1",
            $"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        var browser = new HeadlessChromium(process, profile);
        process.ErrorDataReceived += (_, e) => { lock (browser._stderr) { browser._stderr.AppendLine(e.Data); } };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await browser.ConnectAsync(executable!);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private async Task ConnectAsync(string executable)
    {
        string portFile = Path.Combine(_profile, "DevToolsActivePort");
        var clock = Stopwatch.StartNew();
        string[]? lines = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                Assert.Fail($"{executable} exited with code {_process.ExitCode} before it opened its DevTools port. {InstallHint}\nIts stderr:\n{StderrTail()}");
            }

            if (File.Exists(portFile))
            {
                lines = File.ReadAllLines(portFile);
                if (lines.Length >= 2 && int.TryParse(lines[0], out _))
                {
                    break;
                }
            }

            await Task.Delay(50);
        }

        if (lines is not { Length: >= 2 })
        {
            Assert.Fail($"{executable} did not write {portFile} within 60 s.\nIts stderr:\n{StderrTail()}");
        }

        await _socket.ConnectAsync(new Uri($"ws://127.0.0.1:{lines![0].Trim()}{lines[1].Trim()}"), _stop.Token);
        _receiver = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>Opens a new tab and returns a page bound to it.</summary>
    public async Task<CdpPage> NewPageAsync(int width, int height)
    {
        var target = await SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" });
        string targetId = target["targetId"]!.GetValue<string>();
        var attached = await SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = targetId, ["flatten"] = true });
        var page = new CdpPage(this, attached["sessionId"]!.GetValue<string>());
        await page.SendAsync("Runtime.enable");
        await page.SendAsync("Page.enable");
        await page.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject
        {
            ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false,
        });
        return page;
    }

    /// <summary>Sends one command (to a page when <paramref name="sessionId"/> is given) and returns its result.</summary>
    public async Task<JsonObject> SendAsync(string method, JsonObject? parameters = null, string? sessionId = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? [] };
        if (sessionId is not null)
        {
            message["sessionId"] = sessionId;
        }

        var reply = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        byte[] bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, _stop.Token);
        var done = await Task.WhenAny(reply.Task, Task.Delay(CommandTimeout));
        _pending.TryRemove(id, out _);
        if (done != reply.Task)
        {
            throw new TimeoutException($"Chromium did not answer {method} within {CommandTimeout.TotalSeconds} s.");
        }

        var answer = await reply.Task;
        if (answer["error"] is JsonNode error)
        {
            throw new InvalidOperationException($"Chromium refused {method}: {error.ToJsonString()}");
        }

        return answer["result"]?.AsObject() ?? [];
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var node = JsonNode.Parse(message.GetBuffer().AsSpan(0, (int)message.Length))!.AsObject();
                message.SetLength(0);
                if (node["id"] is JsonNode idNode && _pending.TryGetValue(idNode.GetValue<int>(), out var waiter))
                {
                    waiter.TrySetResult(node);
                }
                else if (node["method"]?.GetValue<string>() is "Runtime.exceptionThrown")
                {
                    PageErrors.Enqueue(node["params"]?["exceptionDetails"]?.ToJsonString() ?? "exception");
                }
                else if (node["method"]?.GetValue<string>() is "Runtime.consoleAPICalled" && node["params"]?["type"]?.GetValue<string>() is "error")
                {
                    PageErrors.Enqueue(node["params"]!.ToJsonString());
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // Closing.
        }

        foreach (var waiter in _pending.Values)
        {
            waiter.TrySetException(new IOException("The DevTools connection closed."));
        }
    }

    private string StderrTail()
    {
        lock (_stderr)
        {
            string text = _stderr.ToString();
            return text.Length > 2000 ? text[^2000..] : text;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                // Ask politely first; the process tree is killed below whatever the answer.
                var close = SendAsync("Browser.close");
                await Task.WhenAny(close, Task.Delay(2000));
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or WebSocketException or TimeoutException)
        {
            // The browser may already be gone.
        }

        _stop.Cancel();
        if (_receiver is not null)
        {
            await Task.WhenAny(_receiver, Task.Delay(2000));
        }

        _socket.Dispose();
        if (!_process.WaitForExit(3000))
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        _stop.Dispose();
        for (int attempt = 0; attempt < 5 && Directory.Exists(_profile); attempt++)
        {
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
                await Task.Delay(200); // the browser's last writes
            }
        }
    }
}
