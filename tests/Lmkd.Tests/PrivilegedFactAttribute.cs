namespace Lmkd.Tests;

/// <summary>
/// A test that needs root and the real kernel (pidfds, cgroups, PSI), and perhaps programs from
/// Debian packages (<see cref="Tools"/>). On a laptop without root, or without those programs, it
/// skips with a reason; with LMKD_REQUIRE_PRIVILEGED=1 (set by .ci/run) it never skips, so a CI
/// machine that lacks what it needs fails the test instead of hiding it.
/// </summary>
public sealed class PrivilegedFactAttribute : FactAttribute
{
    /// <param name="tools">Programs the test runs: absolute paths, or names looked up on PATH.</param>
    public PrivilegedFactAttribute(params string[] tools)
    {
        if (Privileged.SkipReason(tools) is { } why)
            Skip = why;
    }
}

/// <summary>The <see cref="PrivilegedFactAttribute"/> for data-driven tests.</summary>
public sealed class PrivilegedTheoryAttribute : TheoryAttribute
{
    public PrivilegedTheoryAttribute(params string[] tools)
    {
        if (Privileged.SkipReason(tools) is { } why)
            Skip = why;
    }
}

/// <summary>A test that needs programs from Debian packages, but not root.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(params string[] tools)
    {
        if (Tools.SkipReason(tools) is { } why)
            Skip = why;
    }
}

public static class Privileged
{
    public const string RequireVariable = "LMKD_REQUIRE_PRIVILEGED";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>Why a privileged test cannot run here, or null when it can (or must).</summary>
    public static string? SkipReason(params string[] tools)
    {
        if (Required)
            return null;
        if (!OperatingSystem.IsLinux())
            return "needs Linux";
        if (Environment.UserName != "root")
            return $"needs root (set {RequireVariable}=1 to make this a failure)";
        if (!File.Exists("/proc/pressure/memory"))
            return "needs PSI (/proc/pressure/memory)";
        return Tools.SkipReason(tools);
    }
}

/// <summary>
/// The programs tests run, with the Debian package that brings each: scripts/test installs them
/// (as root, through .ci/install-deps); where one is missing, the tests that need it skip and say
/// which package to install, unless CI requires them.
/// </summary>
public static class Tools
{
    public const string Prometheus = "/usr/bin/prometheus";
    public const string Promtool = "/usr/bin/promtool";
    public const string SystemdAnalyze = "/usr/bin/systemd-analyze";
    public const string Qemu = "qemu-system-x86_64";
    public const string Cpio = "cpio";
    public const string File = "file";
    public const string DbusDaemon = "dbus-daemon";
    public const string DbusSend = "dbus-send";
    /// <summary>The distribution's system bus configuration: the policy a private test bus applies.</summary>
    public const string SystemBusConfig = "/usr/share/dbus-1/system.conf";
    public const string Setpriv = "setpriv";
    public const string MkfsExt4 = "mkfs.ext4";
    public const string Gcc = "gcc";
    /// <summary>run-in-vm copies it into the guest: it must be the statically linked one.</summary>
    public const string Busybox = "busybox";

    private static readonly Dictionary<string, string> Packages = new()
    {
        [Prometheus] = "prometheus",
        [Promtool] = "prometheus",
        [SystemdAnalyze] = "systemd",
        [Qemu] = "qemu-system-x86",
        [Cpio] = "cpio",
        [File] = "file",
        [DbusDaemon] = "dbus-daemon",
        [DbusSend] = "dbus-bin",
        [SystemBusConfig] = "dbus-system-bus-common",
        [Setpriv] = "util-linux",
        [MkfsExt4] = "e2fsprogs",
        [Gcc] = "gcc",
        [Busybox] = "busybox-static",
    };

    /// <summary>Why a test that runs these programs cannot run here, or null when it can (or CI requires it).</summary>
    public static string? SkipReason(params string[] tools)
    {
        if (Privileged.Required)
            return null;
        var missing = tools.Where(t => Find(t) is null).ToList();
        if (missing.Count == 0)
            return null;
        var packages = missing.Select(t => Packages.GetValueOrDefault(t, t)).Distinct();
        return $"needs {string.Join(", ", missing)} (Debian: apt-get install {string.Join(' ', packages)}; scripts/test installs them when run as root)";
    }

    /// <summary>The program's full path: an absolute path that exists, or the first match on PATH; null when missing.</summary>
    public static string? Find(string tool)
    {
        if (Path.IsPathRooted(tool))
            return System.IO.File.Exists(tool) ? tool : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, tool);
            if (System.IO.File.Exists(candidate))
                return candidate;
        }
        return null;
    }
}
