using System.Diagnostics;

namespace Lmkd.Cli;

/// <summary>
/// This lmkd again, as a child: the AOT binary or apphost directly, or lmkd.dll under the dotnet
/// host. The demo and kill-test start the daemon and their workloads this way.
/// </summary>
public static class SelfCommand
{
    public static string[] Prefix()
    {
        string self = Environment.ProcessPath ?? "/proc/self/exe";
        return Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? [self, Path.Combine(AppContext.BaseDirectory, "lmkd.dll")]
            : [self];
    }

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var prefix = Prefix();
        var psi = new ProcessStartInfo(prefix[0]) { UseShellExecute = false };
        foreach (var a in prefix.Skip(1).Concat(args))
            psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>The same command as shell words, for `sh -c 'enter the cgroup; exec ...'`.</summary>
    public static string ShellCommand(params string[] args) => string.Join(' ', Prefix().Concat(args).Select(Quote));

    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
