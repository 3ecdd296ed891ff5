using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>One browser tab: navigate, evaluate JavaScript, move the mouse, press keys, take screenshots.</summary>
internal sealed class CdpPage(HeadlessChromium browser, string sessionId)
{
    public Task<JsonObject> SendAsync(string method, JsonObject? parameters = null) => browser.SendAsync(method, parameters, sessionId);

    /// <summary>Opens a file and waits until <c>window.vitViewer</c> is ready (or failed: the test then fails with its error).</summary>
    public async Task OpenViewerAsync(string path, string hash = "")
    {
        string url = new Uri(Path.GetFullPath(path)).AbsoluteUri + hash;
        // Via about:blank, so that reopening the same file with another #hash loads a fresh document (not a fragment jump).
        await SendAsync("Page.navigate", new JsonObject { ["url"] = "about:blank" });
        await SendAsync("Page.navigate", new JsonObject { ["url"] = url });
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            var status = await EvaluateAsync(
                "(() => { const v = window.vitViewer; return location.href.startsWith('file:') && v ? (v.error ? 'error: ' + v.error : (v.ready ? 'ready' : 'loading')) : 'loading'; })()");
            string text = status.GetValue<string>();
            if (text == "ready")
            {
                return;
            }

            if (text.StartsWith("error", StringComparison.Ordinal))
            {
                Assert.Fail($"The viewer page failed to start: {text}");
            }

            await Task.Delay(50);
        }

        Assert.Fail($"The viewer page {path} was not ready within 30 s.");
    }

    /// <summary>Evaluates an expression (awaiting a promise) and returns its value as JSON; a thrown exception fails.</summary>
    public async Task<JsonNode> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true,
        });
        if (result["exceptionDetails"] is JsonNode details)
        {
            throw new InvalidOperationException($"The page threw while evaluating {expression}: {details.ToJsonString()}");
        }

        return result["result"]?["value"] ?? throw new InvalidOperationException($"{expression} returned no value (undefined or null).");
    }

    /// <summary>The viewer's state as <c>window.vitViewer.state()</c> reports it.</summary>
    public async Task<ViewerState> StateAsync() =>
        (await EvaluateAsync("window.vitViewer.state()")).Deserialize<ViewerState>(ViewerState.Json)!;

    public async Task MouseMoveAsync(double x, double y) =>
        await SendAsync("Input.dispatchMouseEvent", new JsonObject { ["type"] = "mouseMoved", ["x"] = x, ["y"] = y });

    public async Task ClickAsync(double x, double y)
    {
        await MouseMoveAsync(x, y);
        foreach (string type in (string[])["mousePressed", "mouseReleased"])
        {
            await SendAsync("Input.dispatchMouseEvent", new JsonObject
            {
                ["type"] = type, ["x"] = x, ["y"] = y, ["button"] = "left", ["clickCount"] = 1,
            });
        }
    }

    /// <summary>Presses and releases a key: a DOM key name ("ArrowUp", "m", "Escape") with its key code.</summary>
    public async Task PressAsync(string key, bool shift = false)
    {
        (string code, int keyCode, string? text) = key switch
        {
            "ArrowUp" => ("ArrowUp", 38, null),
            "ArrowDown" => ("ArrowDown", 40, null),
            "ArrowLeft" => ("ArrowLeft", 37, null),
            "ArrowRight" => ("ArrowRight", 39, null),
            "Escape" => ("Escape", 27, null),
            "." => ("Period", 190, "."),
            "," => ("Comma", 188, ","),
            _ when key.Length == 1 && char.IsLetter(key[0]) => ("Key" + char.ToUpperInvariant(key[0]), char.ToUpperInvariant(key[0]), key),
            _ => throw new ArgumentException($"No key code known for '{key}'.", nameof(key)),
        };
        var down = new JsonObject
        {
            ["type"] = text is null ? "rawKeyDown" : "keyDown", ["key"] = key, ["code"] = code,
            ["windowsVirtualKeyCode"] = keyCode, ["nativeVirtualKeyCode"] = keyCode, ["modifiers"] = shift ? 8 : 0,
        };
        if (text is not null)
        {
            down["text"] = text;
        }

        await SendAsync("Input.dispatchKeyEvent", down);
        await SendAsync("Input.dispatchKeyEvent", new JsonObject
        {
            ["type"] = "keyUp", ["key"] = key, ["code"] = code, ["windowsVirtualKeyCode"] = keyCode, ["nativeVirtualKeyCode"] = keyCode, ["modifiers"] = shift ? 8 : 0,
        });
    }

    /// <summary>A PNG of the page's content: the viewport's width, the document's height.</summary>
    public async Task<byte[]> ScreenshotAsync()
    {
        var size = await EvaluateAsync("({ w: document.documentElement.clientWidth, h: Math.ceil(document.body.getBoundingClientRect().bottom) })");
        var shot = await SendAsync("Page.captureScreenshot", new JsonObject
        {
            ["format"] = "png",
            ["captureBeyondViewport"] = true,
            ["clip"] = new JsonObject
            {
                ["x"] = 0, ["y"] = 0, ["width"] = size["w"]!.GetValue<double>(), ["height"] = size["h"]!.GetValue<double>(), ["scale"] = 1,
            },
        });
        return Convert.FromBase64String(shot["data"]!.GetValue<string>());
    }
}
