namespace VitAttention.Hub;

/// <summary>
/// Where and how <see cref="HubClient"/> downloads models. Immutable; change with <c>with</c>:
/// <c>HubOptions.FromEnvironment() with { Offline = true }</c>.
/// </summary>
/// <remarks>
/// <see cref="FromEnvironment()"/> reads the same variables as Python's huggingface_hub, so both share one cache.
/// The defaults of a plain <c>new HubOptions()</c> ignore the environment: public endpoint, no token, the
/// per-user cache folder, online.
/// </remarks>
public sealed record HubOptions
{
    /// <summary>The public hub's endpoint, used when <c>HF_ENDPOINT</c> is not set.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>
    /// Base address of the hub, without a trailing <c>/</c>. Files are fetched from
    /// <c>{Endpoint}/{owner}/{name}/resolve/{revision}/{file}</c>. Default <see cref="DefaultEndpoint"/>.
    /// </summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>
    /// Access token sent as <c>Authorization: Bearer</c> to the endpoint (never to other hosts that a redirect
    /// points at); needed for gated and private repositories. Default none.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>
    /// The hub cache folder (the one holding <c>models--owner--name</c> folders). Default
    /// <c>~/.cache/huggingface/hub</c>.
    /// </summary>
    public string CacheDirectory { get; init; } = DefaultCacheDirectory(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), null);

    /// <summary>When true no request is made: files resolve from the cache's <c>refs/</c> and <c>snapshots/</c> only. Default false.</summary>
    public bool Offline { get; init; }

    /// <summary>
    /// The longest wait for the server to accept a connection, to answer a request or to send the next piece of a
    /// body; past it the download fails and can be resumed. Default 30 s.
    /// </summary>
    public TimeSpan HttpTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest file the client agrees to download, in bytes. Default 32 GiB.</summary>
    public long MaxFileBytes { get; init; } = 32L << 30;

    /// <summary>The <c>User-Agent</c> header sent with every request.</summary>
    public string UserAgent { get; init; } = "vit-attention/" + (typeof(HubOptions).Assembly.GetName().Version?.ToString(3) ?? "0");

    /// <summary>
    /// Options from the environment variables that huggingface_hub reads: <c>HF_ENDPOINT</c>; <c>HF_TOKEN</c>
    /// (else the token file that <c>hf auth login</c> writes, <c>HF_TOKEN_PATH</c> or <c>{HF_HOME}/token</c>);
    /// <c>HF_HUB_CACHE</c> (else <c>HF_HOME/hub</c>, else <c>$XDG_CACHE_HOME/huggingface/hub</c>, else
    /// <c>~/.cache/huggingface/hub</c>); <c>HF_HUB_OFFLINE</c> (<c>1</c>, <c>true</c>, <c>yes</c> or <c>on</c>);
    /// <c>HF_HUB_DOWNLOAD_TIMEOUT</c> (seconds).
    /// </summary>
    /// <returns>The options; unset variables keep the defaults.</returns>
    public static HubOptions FromEnvironment() =>
        FromEnvironment(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>
    /// <see cref="FromEnvironment()"/> over any variable lookup and home folder; tests use it to stay independent of
    /// the machine.
    /// </summary>
    internal static HubOptions FromEnvironment(Func<string, string?> getVariable, string homeDirectory)
    {
        string? Get(string name)
        {
            string? value = getVariable(name);
            return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        }

        string? hfHome = Get("HF_HOME");
        string cache = Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? DefaultCacheDirectory(homeDirectory, Get("XDG_CACHE_HOME"), hfHome);
        string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN") ?? ReadTokenFile(Get("HF_TOKEN_PATH") ?? Path.Combine(HomeOf(homeDirectory, Get("XDG_CACHE_HOME"), hfHome), "token"));
        var options = new HubOptions
        {
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Token = token,
            CacheDirectory = ExpandHome(cache, homeDirectory),
            Offline = IsTrue(Get("HF_HUB_OFFLINE")),
        };
        if (Get("HF_HUB_DOWNLOAD_TIMEOUT") is { } timeout
            && double.TryParse(timeout, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
            && seconds > 0 && seconds < 86_400)
        {
            options = options with { HttpTimeout = TimeSpan.FromSeconds(seconds) };
        }

        return options;
    }

    /// <summary>True for <c>1</c>, <c>true</c>, <c>yes</c>, <c>on</c> in any case, as huggingface_hub reads boolean variables.</summary>
    internal static bool IsTrue(string? value) =>
        value is not null && (value.Trim().ToUpperInvariant() is "1" or "TRUE" or "YES" or "ON");

    private static string DefaultCacheDirectory(string home, string? xdgCacheHome, string? hfHome = null) =>
        Path.Combine(HomeOf(home, xdgCacheHome, hfHome), "hub");

    private static string HomeOf(string home, string? xdgCacheHome, string? hfHome) =>
        ExpandHome(hfHome ?? Path.Combine(xdgCacheHome ?? Path.Combine(home, ".cache"), "huggingface"), home);

    private static string ExpandHome(string path, string home) =>
        path == "~" ? home
        : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, path[2..])
        : path;

    private static string? ReadTokenFile(string path)
    {
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 4096)
            {
                return null;
            }

            string token = File.ReadAllText(path).Trim();
            return token.Length == 0 ? null : token;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
