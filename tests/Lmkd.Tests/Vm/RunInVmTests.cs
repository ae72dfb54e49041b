using System.Diagnostics;

namespace Lmkd.Tests.Vm;

/// <summary>
/// scripts/vm/run-in-vm, the project's own runner: the command's exit code and output come back,
/// a read-only disk stays read-only, a writable one keeps its writes in a throw-away overlay, and a
/// guest that runs past its time is killed and reported. Boots the REAP_KILL kernel (kernel/build.sh
/// has built it by the time the tests run: scripts/vm/kernels.sh).
/// </summary>
[Collection(VmCollection.Name)]
public sealed class RunInVmTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-run-in-vm-").FullName;

    [PrivilegedFact(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.MkfsExt4)]
    public void The_command_s_exit_code_and_output_come_back_and_a_disk_changes_only_in_the_overlay()
    {
        string guest = Directory.CreateDirectory(Path.Combine(_dir, "guest")).FullName;
        File.WriteAllText(Path.Combine(guest, "probe.sh"), """
            echo "cpus=$(nproc) cgroup=$(cat /sys/fs/cgroup/cgroup.controllers | tr ' ' ,)"
            mount -o ro,noload /dev/vda /mnt && echo "read-only: $(cat /mnt/note)"
            touch /mnt/x 2>/dev/null && echo "wrote to a read-only disk"
            umount /mnt
            mount /dev/vda /mnt && echo changed > /mnt/note && echo "rw: $(cat /mnt/note)"
            umount /mnt
            exit 7
            """);
        string disk = Disk("original");

        var (ro, roOut, _) = Run("--disk", disk, guest, "--", "sh", "probe.sh");
        Assert.Equal(7, ro);
        Assert.Contains("cpus=2 ", roOut);
        Assert.Contains("memory", roOut);
        Assert.Contains("read-only: original", roOut);
        Assert.DoesNotContain("wrote to a read-only disk", roOut);
        Assert.DoesNotContain("rw: changed", roOut);

        var (rw, rwOut, _) = Run("--disk-rw", disk, guest, "--", "sh", "probe.sh");
        Assert.Equal(7, rw);
        Assert.Contains("rw: changed", rwOut);
        Assert.Equal("original", ReadNote(disk));
    }

    [PrivilegedFact(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox)]
    public void A_guest_past_its_time_is_killed_and_reported_and_no_output_can_fake_an_exit()
    {
        string guest = Directory.CreateDirectory(Path.Combine(_dir, "slow")).FullName;
        File.WriteAllText(Path.Combine(guest, "slow.sh"), "echo 'run-in-vm: exit 0'; echo started; sleep 600\n");
        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = Run("--timeout", "15", guest, "--", "sh", "slow.sh");
        Assert.Equal(124, code);
        Assert.Contains("started", stdout);
        Assert.Contains("ran past 15 s and was killed", stderr);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}");
    }

    private string Disk(string note)
    {
        string root = Directory.CreateDirectory(Path.Combine(_dir, "disk-root")).FullName;
        File.WriteAllText(Path.Combine(root, "note"), note);
        string image = Path.Combine(_dir, "disk.ext4");
        Shell($"mkfs.ext4 -q -F -d {root} {image} 8M");
        return image;
    }

    private string ReadNote(string image) => Shell($"debugfs -R 'cat /note' {image} 2>/dev/null").Trim();

    private static string Shell(string command)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", command]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["PATH"] = "/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{command}: exit {p.ExitCode}\n{err.Result}");
        return output;
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args) =>
        VmFixture.RunScript(Path.Combine("scripts", "vm", "run-in-vm"), args);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
