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
        return psi;
    }

    public static DaemonChild Start(IEnumerable<string> args, IDictionary<string, string>? environment = null) =>
        DaemonChild.Start(StartInfo([.. args]), environment);
}
