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
