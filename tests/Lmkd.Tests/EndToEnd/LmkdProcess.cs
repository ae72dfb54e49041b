using System.Diagnostics;
using Lmkd.Cli;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// The real daemon run as an operator would: the build under test is the native binary named by
/// $LMKD_BINARY (CI runs the end-to-end tests again against the AOT publish), else `dotnet lmkd.dll`
/// beside the tests.
/// </summary>
public static class LmkdProcess
{
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var native = Environment.GetEnvironmentVariable("LMKD_BINARY");
        var psi = !string.IsNullOrEmpty(native)
            ? new ProcessStartInfo(native)
            : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(AppContext.BaseDirectory, "lmkd.dll") } };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        if (args.Length > 0 && args[0] == "run" && !args.Any(a => a.StartsWith(NoStatusSocket, StringComparison.Ordinal)))
            psi.ArgumentList.Add(NoStatusSocket);
        return psi;
    }

    /// <summary>
    /// <see cref="StartInfo"/> for lmkd run as a user other than root (setpriv): the build is copied
    /// once per test run to a folder every user can enter, since the clone may sit where only root can
    /// (root's home is 0700 on Debian).
    /// </summary>
    public static ProcessStartInfo StartInfoForOtherUser(params string[] args)
    {
        var psi = StartInfo(args);
        if (Environment.GetEnvironmentVariable("LMKD_BINARY") is { Length: > 0 } native)
            psi.FileName = Path.Combine(ReachableBuild.Value, Path.GetFileName(native));
        else
            psi.ArgumentList[0] = Path.Combine(ReachableBuild.Value, "lmkd.dll");
        return psi;
    }

    /// <summary>The shell command of <see cref="StartInfoForOtherUser"/>, as <see cref="Workload.LmkdCommand"/> gives it for root.</summary>
    public static string CommandForOtherUser()
    {
        var psi = StartInfoForOtherUser();
        return string.Join(' ', new[] { psi.FileName }.Concat(psi.ArgumentList.Where(a => a != NoStatusSocket)).Select(SelfCommand.Quote));
    }

    private static readonly Lazy<string> ReachableBuild = new(() => OperatingSystem.IsWindows() ? AppContext.BaseDirectory : CopyBuildForOtherUsers());

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string CopyBuildForOtherUsers()
    {
        string source = Environment.GetEnvironmentVariable("LMKD_BINARY") is { Length: > 0 } native
            ? Path.GetDirectoryName(Path.GetFullPath(native))! : AppContext.BaseDirectory;
        string target = Path.Combine(Path.GetTempPath(), $"lmkd-tests-build-{Environment.ProcessId}");
        const UnixFileMode Open = (UnixFileMode)0b111_101_101, Readable = (UnixFileMode)0b110_100_100;
        foreach (var dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories).Prepend(source))
        {
            string to = Path.Combine(target, Path.GetRelativePath(source, dir));
            Directory.CreateDirectory(to);
            File.SetUnixFileMode(to, Open);
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                string copy = Path.Combine(to, Path.GetFileName(file));
                File.Copy(file, copy, overwrite: true);
                bool executable = (File.GetUnixFileMode(file) & UnixFileMode.UserExecute) != 0;
                File.SetUnixFileMode(copy, executable ? Open : Readable);
            }
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(target, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return target;
    }

    /// <summary>
    /// Tests never talk to the machine's own system bus (a developer's desktop would show their kills):
    /// unless the test names a bus, DBUS_SYSTEM_BUS_ADDRESS points where there is none.
    /// </summary>
    public const string NoBus = "unix:path=/nonexistent/lmkd-tests/system_bus_socket";

    /// <summary>
    /// Tests never touch /run/lmkd, where the machine's own Lmkd may listen: a daemon a test starts has
    /// no status socket unless the test names one (--Lmkd:Status:Socket=PATH).
    /// </summary>
    public const string NoStatusSocket = "--Lmkd:Status:Socket=";

    public static DaemonChild Start(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var env = new Dictionary<string, string>(environment ?? new Dictionary<string, string>());
        env.TryAdd("DBUS_SYSTEM_BUS_ADDRESS", NoBus);
        return DaemonChild.Start(StartInfo([.. args]), env);
    }
}
