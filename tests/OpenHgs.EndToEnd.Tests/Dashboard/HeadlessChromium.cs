using Microsoft.Playwright;

namespace OpenHgs.EndToEnd.Tests.Dashboard;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>, installed by scripts/install-test-deps.sh), driven headless by
/// Playwright. Screenshots go to <c>$HGS_TEST_ARTEFACTS/dashboard</c> (./test.sh sets it to
/// <c>.hgs/test-results/artefacts</c>), else next to the test assembly, and are kept as test artefacts.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly IPlaywright _playwright;

    private HeadlessChromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    /// <summary>Where this run's screenshots are written.</summary>
    public static string ArtefactDirectory { get; } = Path.Combine(
        Environment.GetEnvironmentVariable("HGS_TEST_ARTEFACTS") is { Length: > 0 } configured ? configured : Path.Combine(AppContext.BaseDirectory, "artefacts"),
        "dashboard");

    public static async Task<HeadlessChromium> StartAsync()
    {
        string executable = Environment.GetEnvironmentVariable("HGS_CHROMIUM") is { Length: > 0 } configured ? configured : "/usr/bin/chromium";
        if (!File.Exists(executable))
        {
            // Not a skip: the dashboard tests always run in CI, where ./test.sh installs Debian's chromium.
            throw new InvalidOperationException($"Chromium is not installed at {executable}: run scripts/install-test-deps.sh (Debian package chromium) or set HGS_CHROMIUM.");
        }

        var playwright = await Playwright.CreateAsync();
        try
        {
            // Chromium's sandbox cannot start as root (CI runs as root); the pages loaded are our own, from loopback.
            string[] arguments = Environment.UserName == "root" ? ["--no-sandbox"] : [];
            var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = executable, Headless = true, Args = arguments });
            return new HeadlessChromium(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A page in a fresh context (no shared storage), 1400 px wide so every dashboard section is on screen.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        return await context.NewPageAsync();
    }

    /// <summary>Saves a full-page screenshot as a test artefact and returns its path.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ArtefactDirectory);
        string path = Path.Combine(ArtefactDirectory, name + ".png");
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}
