using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Lmkd.Tests.Vm;

/// <summary>
/// One boot of a throw-away QEMU guest running scripts/vm/guest-suite.sh: every scenario in one
/// boot (boots cost 10-25 s under software emulation). The output is split into the script's
/// "=== BEGIN name" / "=== END name" sections.
/// </summary>
public sealed class GuestRun
{
    public required string KernelName { get; init; }
    public required string Release { get; init; }
    public required string Output { get; init; }
    public required int ExitCode { get; init; }
    public required TimeSpan Elapsed { get; init; }
    public required IReadOnlyDictionary<string, string[]> Sections { get; init; }

    public string[] Section(string name) =>
        Sections.TryGetValue(name, out var lines) ? lines
            : throw new Xunit.Sdk.XunitException($"{KernelName}: the guest printed no section '{name}' (exit {ExitCode}). Output:\n{Output}");

    /// <summary>The first line of a section that is a JSON object (kill-test --json).</summary>
    public JsonElement Json(string section) =>
        Section(section).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).FirstOrDefault() is { ValueKind: JsonValueKind.Object } e
            ? e : throw new Xunit.Sdk.XunitException($"{KernelName}: no JSON in section '{section}':\n{string.Join('\n', Section(section))}");

    /// <summary>The first "key=value" in a section.</summary>
    public string? Value(string section, string key)
    {
        foreach (var line in Section(section))
            foreach (var word in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                if (word.StartsWith(key + "=", StringComparison.Ordinal))
                    return word[(key.Length + 1)..];
        return null;
    }

    internal static GuestRun Boot(string kernelName, string kernelImage, string vmDir, string runInVm)
    {
        var psi = new ProcessStartInfo(runInVm) { RedirectStandardOutput = true, RedirectStandardError = true };
        // 384 MiB: small enough that a few hogs fill it in seconds, big enough for the AOT daemon.
        foreach (var a in new[] { "--kernel", kernelImage, "--mem", "384", "--timeout", "360", vmDir, "--", "sh", "guest-suite.sh" })
            psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string output = stdout + stderr.Result;
        return new GuestRun
        {
            KernelName = kernelName,
            Release = GuestBoot.ReleaseOf(output),
            Output = output,
            ExitCode = p.ExitCode,
            Elapsed = sw.Elapsed,
            Sections = Split(output),
        };
    }

    internal static Dictionary<string, string[]> Split(string output)
    {
        var sections = new Dictionary<string, string[]>();
        string? current = null;
        var lines = new List<string>();
        foreach (var raw in output.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.StartsWith("=== BEGIN ", StringComparison.Ordinal))
            {
                current = line["=== BEGIN ".Length..].Trim();
                lines = [];
            }
            else if (current is not null && line == "=== END " + current)
            {
                sections[current] = [.. lines];
                current = null;
            }
            else if (current is not null)
            {
                lines.Add(line);
            }
        }
        return sections;
    }
}

/// <summary>
/// Builds the guest directory and boots each kernel at most once per test run, on first use, with
/// scripts/vm/run-in-vm. scripts/vm/kernel-image.sh gives the kernel: the REAP_KILL one built from
/// kernel/ into the cache, the stock one fetched by scripts/vm/stock-kernel.sh.
/// </summary>
public sealed class VmFixture : IDisposable
{
    public const string ReapKill = "reapkill";
    public const string Stock = "stock";

    private readonly Dictionary<string, Lazy<GuestRun>> _runs = [];
    private readonly string _work = Directory.CreateTempSubdirectory("lmkd-vm-").FullName;

    public VmFixture()
    {
        _runs[ReapKill] = new(() => BootKernel(ReapKill));
        _runs[Stock] = new(() => BootKernel(Stock));
    }

    public static string RepoRoot { get; } = FindRepoRoot();

    public GuestRun Run(string kernel) => _runs[kernel].Value;

    private GuestRun BootKernel(string kernel)
    {
        // Both kernels come through the project's own scripts: the REAP_KILL one built from
        // kernel/ (cached after the first build), the stock one fetched from Debian.
        string[] image = Script("kernel-image.sh", kernel).Split('\n');
        string vmDir = Path.Combine(_work, kernel);
        Script("build-guest.sh", vmDir, image.Length > 1 ? image[1].Trim() : "");
        var run = GuestRun.Boot(kernel, image[0].Trim(), vmDir, Path.Combine(RepoRoot, "scripts", "vm", "run-in-vm"));
        VmSummary.SaveLog($"vm-{kernel}.log", run.Output);
        return run;
    }

    private static string Script(string name, params string[] args)
    {
        var (code, stdout, stderr) = RunScript(Path.Combine("scripts", "vm", name), args);
        if (code != 0)
            throw new Xunit.Sdk.XunitException($"scripts/vm/{name} failed ({code}):\n{stderr}");
        return stdout;
    }

    /// <summary>Runs one of the repository's scripts (a path relative to its root) to its end: exit code, stdout, stderr.</summary>
    internal static (int Code, string Stdout, string Stderr) RunScript(string relativePath, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Path.Combine(RepoRoot, relativePath)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
            psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lmkd.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("Lmkd.slnx not found above " + AppContext.BaseDirectory);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class VmCollection : ICollectionFixture<VmFixture>, ICollectionFixture<WholeMachineFixture>, ICollectionFixture<GaveBackFixture>, ICollectionFixture<HealthyHostFixture>
{
    public const string Name = "throw-away VMs";
}

/// <summary>
/// The figures of these runs for the README: artifacts/vm-figures.md (or $LMKD_VM_SUMMARY), one
/// block per test and kernel, rewritten as tests finish so a partial run still leaves its figures.
/// </summary>
public static class VmSummary
{
    private static readonly SortedDictionary<string, string> Blocks = new(StringComparer.Ordinal);
    private static readonly Lock Gate = new();

    public static string PathName => Environment.GetEnvironmentVariable("LMKD_VM_SUMMARY") is { Length: > 0 } p ? p
        : System.IO.Path.Combine(VmFixture.RepoRoot, "artifacts", "vm-figures.md");

    public static void Add(string key, string text)
    {
        lock (Gate)
        {
            Blocks[key] = text;
            var sb = new StringBuilder("# Lmkd in throw-away VMs: measured figures\n\n");
            sb.Append(CultureInfo.InvariantCulture, $"Written by tests/Lmkd.Tests/Vm at {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC (QEMU, software emulation, 2 vCPUs, 384 MiB).\n\n");
            foreach (var b in Blocks.Values)
                sb.Append(b).Append('\n');
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(PathName)!);
            File.WriteAllText(PathName, sb.ToString());
        }
    }

    /// <summary>A guest's whole console, beside the figures, for whoever reads a failure in CI.</summary>
    public static void SaveLog(string name, string output)
    {
        string log = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(PathName)!, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(log)!);
        File.WriteAllText(log, output, Encoding.UTF8);
    }
}

/// <summary>One boot through a scripts/vm/boot-*.sh script: its console, the kernel release it printed, its sections.</summary>
public sealed record GuestBoot(string KernelName, string Release, string Output, Dictionary<string, string[]> Sections)
{
    /// <summary>Runs scripts/vm/<paramref name="script"/> with <paramref name="args"/>, keeps the console as <paramref name="logName"/>, and fails on a non-zero exit.</summary>
    public static GuestBoot Run(string script, string kernel, string logName, IEnumerable<string> args)
    {
        var (code, stdout, stderr) = VmFixture.RunScript(System.IO.Path.Combine("scripts", "vm", script), args);
        string output = stdout + stderr;
        VmSummary.SaveLog(logName, output);
        if (code != 0)
            throw new Xunit.Sdk.XunitException($"scripts/vm/{script} {string.Join(' ', args)} failed ({code}):\n{output}");
        return new GuestBoot(kernel, ReleaseOf(output), output, GuestRun.Split(output));
    }

    /// <summary>The release the guest printed first ("kernel=..."), or "?".</summary>
    public static string ReleaseOf(string output) =>
        output.Split('\n').FirstOrDefault(l => l.StartsWith("kernel=", StringComparison.Ordinal))?["kernel=".Length..].Trim() ?? "?";
}
