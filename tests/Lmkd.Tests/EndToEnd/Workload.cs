using System.Diagnostics;
using Lmkd.Cli;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// One `lmkd hog` process started inside a test cgroup (it enters the cgroup before it allocates,
/// so every page is charged there). Its pid comes from its ready file, written once its initial
/// memory is resident.
/// </summary>
public sealed class Workload : IDisposable
{
    private readonly Process _shell;
    public int Pid { get; }
    public string Label { get; }

    private Workload(Process shell, int pid, string label)
    {
        _shell = shell;
        Pid = pid;
        Label = label;
    }

    /// <summary>The command that runs lmkd: the native binary from $LMKD_BINARY, else `dotnet lmkd.dll`.</summary>
    public static string LmkdCommand()
    {
        var native = Environment.GetEnvironmentVariable("LMKD_BINARY");
        return !string.IsNullOrEmpty(native) ? SelfCommand.Quote(native) : $"dotnet {SelfCommand.Quote(Path.Combine(AppContext.BaseDirectory, "lmkd.dll"))}";
    }

    public static Workload Start(TestCgroup cgroup, string label, string hogArgs, TimeSpan? readyTimeout = null)
    {
        var hog = cgroup.StartHog(LmkdCommand(), hogArgs, readyTimeout);
        return new Workload(hog, hog.Id, label);
    }

    public bool IsAlive => !_shell.HasExited;

    /// <summary>The signal that ended it (9 for SIGKILL), or null while it runs or when it exited normally.</summary>
    public int? TermSignal => _shell.HasExited && _shell.ExitCode > 128 ? _shell.ExitCode - 128 : null;

    public void Dispose()
    {
        try
        {
            if (!_shell.HasExited)
                _shell.Kill();
            _shell.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _shell.Dispose();
    }
}
