using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Lmkd.Tests.Notify;

/// <summary>
/// A private system bus: Debian's dbus-daemon with the distribution's own system bus policy
/// (/usr/share/dbus-1/system.conf and the system.d directories it includes), listening on a socket
/// in a temporary directory instead of /run/dbus. Signals that pass it pass a real system bus.
/// Lmkd ships no bus policy of its own (it broadcasts from its unique name); a policy file in
/// deploy/dbus/ would be included here too.
/// </summary>
public sealed partial class PrivateBus : IDisposable
{
    private readonly string _dir;
    private readonly string _config;
    private Process? _daemon;

    public string SocketPath { get; }
    public string Address => "unix:path=" + SocketPath;

    private PrivateBus(string dir)
    {
        _dir = dir;
        SocketPath = Path.Combine(dir, "system_bus_socket");
        _config = Path.Combine(dir, "system.conf");
        File.WriteAllText(_config, Config(SocketPath));
    }

    /// <summary>A bus at a fresh address; <paramref name="start"/> false gives the address only (a bus that is not there yet).</summary>
    public static PrivateBus Create(bool start = true)
    {
        var dir = Directory.CreateTempSubdirectory("lmkd-bus-").FullName;
        // A non-root Lmkd (as under the unit) must reach the socket too.
        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var bus = new PrivateBus(dir);
        if (start)
            bus.Start();
        return bus;
    }

    /// <summary>The distribution's configuration with only what makes it the machine's bus taken out.</summary>
    internal static string Config(string socketPath)
    {
        var text = File.ReadAllText(Tools.SystemBusConfig);
        text = Element("user").Replace(text, "");
        text = Element("pidfile").Replace(text, "");
        text = Element("servicehelper").Replace(text, "");
        text = text.Replace("<fork/>", "").Replace("<syslog/>", "").Replace("<standard_system_servicedirs/>", "");
        text = SelinuxInclude().Replace(text, "");
        text = Element("listen").Replace(text, $"<listen>unix:path={socketPath}</listen>", 1);
        // Relative includes are relative to the file: ours lives elsewhere.
        text = text.Replace("<includedir>system.d</includedir>", $"<includedir>{Path.GetDirectoryName(Tools.SystemBusConfig)}/system.d</includedir>");
        var shipped = Path.Combine(Service.SystemdUnitTests.RepoFile("deploy"), "dbus");
        if (Directory.Exists(shipped))
            text = text.Replace("</busconfig>", $"  <includedir>{shipped}</includedir>\n</busconfig>");
        Assert.Contains("<policy context=\"default\">", text);
        return text;
    }

    public void Start()
    {
        Assert.Null(_daemon);
        var psi = new ProcessStartInfo(Tools.Find(Tools.DbusDaemon)!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--nofork", "--nopidfile", "--print-address", "--config-file=" + _config })
            psi.ArgumentList.Add(a);
        _daemon = Process.Start(psi)!;
        // --print-address writes once the socket listens.
        var line = _daemon.StandardOutput.ReadLineAsync();
        Assert.True(line.Wait(TimeSpan.FromSeconds(10)) && line.Result?.StartsWith("unix:path=" + SocketPath, StringComparison.Ordinal) == true,
            $"dbus-daemon did not start: {line.Result}\n{(_daemon.HasExited ? _daemon.StandardError.ReadToEnd() : "")}");
        _ = _daemon.StandardError.ReadToEndAsync();
    }

    /// <summary>The bus goes away (its socket with it), as when the machine's bus is restarted.</summary>
    public void Stop()
    {
        if (_daemon is null)
            return;
        if (!_daemon.HasExited)
            _daemon.Kill();
        _daemon.WaitForExit(5000);
        _daemon.Dispose();
        _daemon = null;
        File.Delete(SocketPath);
    }

    /// <summary>SIGSTOP: the bus is there but reads nothing, the way a bus starved under memory pressure is.</summary>
    public void Pause() => Assert.Equal(0, Kill(_daemon!.Id, 19));

    public void Resume() => Assert.Equal(0, Kill(_daemon!.Id, 18));

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
            Kill(_daemon.Id, 18);
        Stop();
        Directory.Delete(_dir, recursive: true);
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private static Regex Element(string name) => new($@"<{name}>[^<]*</{name}>");

    [GeneratedRegex(@"<include if_selinux_enabled[^>]*>[^<]*</include>")]
    private static partial Regex SelinuxInclude();
}
