using System.Diagnostics;
using Lmkd.Cli;

namespace Lmkd.Benchmarks;

/// <summary>How the daemon under measurement is run: a native binary, or `dotnet lmkd.dll`.</summary>
internal sealed record LmkdCommand(string[] Words)
{
    public static LmkdCommand For(string binary)
    {
        if (!binary.EndsWith(".dll", StringComparison.Ordinal))
            return new([binary]);
        string host = Environment.ProcessPath is { } self && Path.GetFileName(self) == "dotnet" ? self : "dotnet";
        return new([host, binary]);
    }

    /// <summary>A native binary from $LMKD_BINARY, else the lmkd.dll built beside this program.</summary>
    public static LmkdCommand FromEnvironment() =>
        For(Environment.GetEnvironmentVariable("LMKD_BINARY") is { Length: > 0 } b ? b : Path.Combine(AppContext.BaseDirectory, "lmkd.dll"));

    public string Describe => Words.Length == 1 ? $"native {Words[0]}" : $"JIT: {string.Join(' ', Words)}";

    /// <summary>The words as one shell command line.</summary>
    public string Shell => string.Join(' ', Words.Select(SelfCommand.Quote));

    public ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo(Words[0]);
        foreach (string w in Words.Skip(1).Concat(args))
            psi.ArgumentList.Add(w);
        return psi;
    }
}
