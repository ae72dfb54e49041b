using System.Diagnostics;

namespace Lmkd.Tests.Service;

/// <summary>deploy/install.sh and uninstall.sh, staged under DESTDIR: the running system is never touched.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class InstallScriptTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("lmkd-install-").FullName;
    private readonly string _work = Directory.CreateTempSubdirectory("lmkd-install-bin-").FullName;

    /// <summary>The native binary when CI runs against it; else a wrapper that runs the JIT build.</summary>
    private string Binary()
    {
        if (Environment.GetEnvironmentVariable("LMKD_BINARY") is { Length: > 0 } native)
            return native;
        var wrapper = Path.Combine(_work, "lmkd");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec dotnet '{Path.Combine(AppContext.BaseDirectory, "lmkd.dll")}' \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return wrapper;
    }

    private (int Code, string Output) Run(string script, params string[] args)
    {
        var psi = new ProcessStartInfo(SystemdUnitTests.RepoFile(script)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["DESTDIR"] = _root;
        psi.Environment.Remove("LMKD_BINARY");
        psi.Environment.Remove("LMKD_CONFIG");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }

    private string Staged(string path) => Path.Combine(_root, path.TrimStart('/'));

    [ToolFact(Tools.SystemdAnalyze)]
    public void Install_places_binary_unit_and_config_keeps_an_edited_config_and_uninstall_removes_them()
    {
        var (code, output) = Run("deploy/install.sh", "--binary", Binary());
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Staged("/usr/local/bin/lmkd")), output);
        Assert.True(File.GetUnixFileMode(Staged("/usr/local/bin/lmkd")).HasFlag(UnixFileMode.OtherExecute));
        Assert.True(File.Exists(Staged("/etc/systemd/system/lmkd.service")));
        Assert.Contains("is valid", output);
        var config = Staged("/etc/lmkd/appsettings.json");
        Assert.Contains("\"RealtimePriority\": 1", File.ReadAllText(config));

        // An operator's edit survives a reinstall; the new default lands beside it.
        File.WriteAllText(config, """{ "Lmkd": { "DryRun": true } }""");
        (code, output) = Run("deploy/install.sh", "--binary", Binary());
        Assert.True(code == 0, output);
        Assert.Contains("\"DryRun\": true", File.ReadAllText(config));
        Assert.True(File.Exists(config + ".dist"));

        // A broken configuration stops the install before the unit is (re)placed.
        File.WriteAllText(config, """{ "Lmkd": { "DryRn": true } }""");
        (code, output) = Run("deploy/install.sh", "--binary", Binary());
        Assert.NotEqual(0, code);
        Assert.Contains("Lmkd:DryRn", output);

        (code, output) = Run("deploy/uninstall.sh");
        Assert.True(code == 0, output);
        Assert.False(File.Exists(Staged("/usr/local/bin/lmkd")));
        Assert.False(File.Exists(Staged("/etc/systemd/system/lmkd.service")));
        Assert.True(File.Exists(config));
        (code, output) = Run("deploy/uninstall.sh", "--purge");
        Assert.True(code == 0, output);
        Assert.False(Directory.Exists(Staged("/etc/lmkd")));
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_work, recursive: true);
    }
}
