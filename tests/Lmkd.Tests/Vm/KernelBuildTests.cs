using System.Diagnostics;
using System.Text;

namespace Lmkd.Tests.Vm;

/// <summary>
/// kernel/build.sh's cache, on copies of the images it built for the VM tests (no test here
/// builds a kernel): a corrupt image is found and thrown away, never handed out; a second run waits
/// on the lock and takes what the first one stored; a cache without room stops before the build.
/// </summary>
[Collection(VmCollection.Name)]
public sealed class KernelBuildTests : IDisposable
{
    private readonly string _cache = Directory.CreateTempSubdirectory("lmkd-kernel-cache-").FullName;

    private string Builds => Path.Combine(_cache, "kernel-builds");

    /// <summary>The cached build the VM tests boot, copied into this test's own cache.</summary>
    private string CopyBuiltKernels()
    {
        var (code, stdout, stderr) = Build(ownCache: false, null, "reapkill");
        Assert.True(code == 0, $"kernel/build.sh reapkill: exit {code}\n{stderr}");
        string key = Path.GetDirectoryName(stdout.Trim())!;
        string copy = Path.Combine(Builds, Path.GetFileName(key));
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(key))
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }

    [PrivilegedFact(Tools.Qemu)]
    public void A_truncated_image_is_found_by_its_checksum_and_thrown_away_never_handed_out()
    {
        string key = CopyBuiltKernels();
        string image = Directory.GetFiles(key, "bzImage-*-reapkill").Single();
        using (var f = new FileStream(image, FileMode.Open))
            f.SetLength(f.Length / 2);

        // The error variable stops the rebuild that would follow (scripts/test's way of saying a build already failed).
        var (code, stdout, stderr) = Build(ownCache: true, new() { ["LMKD_VM_KERNEL_ERROR"] = "stopped by the test" }, "reapkill");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("do not match their checksums (truncated or corrupt): rebuilding", stderr);
        Assert.Contains("not built: stopped by the test", stderr);
        Assert.False(Directory.Exists(key), "the corrupt build was kept");
    }

    [PrivilegedFact(Tools.Qemu)]
    public void A_second_run_waits_on_the_lock_and_takes_what_the_first_one_stored()
    {
        Directory.CreateDirectory(Builds);
        using var holder = Process.Start(new ProcessStartInfo("flock", ["-x", Path.Combine(Builds, ".lock"), "-c", "echo held; sleep 120"]) { RedirectStandardOutput = true })!;
        Assert.Equal("held", holder.StandardOutput.ReadLine());

        var second = Start(ownCache: true, null, "reapkill");
        var stderr = new StringBuilder();
        second.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        second.BeginErrorReadLine();
        var stdout = second.StandardOutput.ReadToEndAsync();
        try
        {
            Assert.True(SpinWait.SpinUntil(() => { lock (stderr) return stderr.ToString().Contains("waiting for it"); }, TimeSpan.FromSeconds(20)), "no wait reported:\n" + stderr);
            Assert.False(second.HasExited);
            // What the first run would have stored, then its lock released.
            string key = CopyBuiltKernels();
            holder.Kill(entireProcessTree: true);
            Assert.True(second.WaitForExit(30_000), "still waiting after the lock was released:\n" + stderr);
            second.WaitForExit();
            Assert.True(second.ExitCode == 0, stderr.ToString());
            Assert.Contains("built by the run we waited for", stderr.ToString());
            Assert.StartsWith(key + "/bzImage-", stdout.Result.Trim(), StringComparison.Ordinal);
        }
        finally
        {
            if (!holder.HasExited)
                holder.Kill(entireProcessTree: true);
            if (!second.HasExited)
                second.Kill(entireProcessTree: true);
            second.Dispose();
        }
    }

    [PrivilegedFact(Tools.Qemu)]
    public void A_cache_without_room_stops_the_build_before_it_starts_saying_how_much_it_needs()
    {
        // A 64 MiB file system of its own, in a mount namespace that ends with the command.
        string inner = $"mount -t tmpfs -o size=64M tmpfs {_cache} && LMKD_VM_CACHE={_cache} {Path.Combine(VmFixture.RepoRoot, "kernel", "build.sh")}";
        var psi = new ProcessStartInfo("unshare", ["--mount", "--propagation", "private", "sh", "-c", inner]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment.Remove("LMKD_VM_KERNEL_ERROR");
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(1, p.ExitCode);
        Assert.Equal("", stdout);
        Assert.Matches(@"needs \d+ MiB free in .*kernel-builds, which has 6\d MiB", err.Result);
        Assert.DoesNotContain("[2/6]", err.Result);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
    }

    private (int Code, string Stdout, string Stderr) Build(bool ownCache, Dictionary<string, string>? env, params string[] args)
    {
        var environment = new Dictionary<string, string>(env ?? []);
        if (ownCache)
            environment["LMKD_VM_CACHE"] = _cache;
        environment.TryAdd("LMKD_VM_KERNEL_ERROR", "");
        return VmFixture.RunScript(Path.Combine("kernel", "build.sh"), args, environment);
    }

    /// <summary>kernel/build.sh on this test's own cache, or on the real one the VM tests use.</summary>
    private Process Start(bool ownCache, Dictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(VmFixture.RepoRoot, "kernel", "build.sh")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment.Remove("LMKD_VM_KERNEL_ERROR");
        foreach (var (k, v) in env ?? [])
            psi.Environment[k] = v;
        if (ownCache)
            psi.Environment["LMKD_VM_CACHE"] = _cache;
        return Process.Start(psi)!;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_cache, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
