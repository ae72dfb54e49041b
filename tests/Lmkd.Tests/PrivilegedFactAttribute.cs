namespace Lmkd.Tests;

/// <summary>
/// A test that needs root and the real kernel (pidfds, cgroups, PSI). On a laptop without root it
/// skips with a reason; with LMKD_REQUIRE_PRIVILEGED=1 (set by .ci/run) it never skips, so a CI
/// machine that lacks what it needs fails the test instead of hiding it.
/// </summary>
public sealed class PrivilegedFactAttribute : FactAttribute
{
    public PrivilegedFactAttribute()
    {
        if (Privileged.SkipReason() is { } why)
            Skip = why;
    }
}

/// <summary>The <see cref="PrivilegedFactAttribute"/> for data-driven tests.</summary>
public sealed class PrivilegedTheoryAttribute : TheoryAttribute
{
    public PrivilegedTheoryAttribute()
    {
        if (Privileged.SkipReason() is { } why)
            Skip = why;
    }
}

public static class Privileged
{
    public const string RequireVariable = "LMKD_REQUIRE_PRIVILEGED";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>Why a privileged test cannot run here, or null when it can (or must).</summary>
    public static string? SkipReason()
    {
        if (Required)
            return null;
        if (!OperatingSystem.IsLinux())
            return "needs Linux";
        if (Environment.UserName != "root")
            return $"needs root (set {RequireVariable}=1 to make this a failure)";
        if (!File.Exists("/proc/pressure/memory"))
            return "needs PSI (/proc/pressure/memory)";
        return null;
    }
}
