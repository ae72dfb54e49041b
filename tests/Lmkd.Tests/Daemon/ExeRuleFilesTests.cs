using Lmkd.Daemon;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.Tests.ProcFs;

namespace Lmkd.Tests.Daemon;

/// <summary>What the exe rules' files resolve to at load: literal paths, globs over what exists, symlinks by target.</summary>
public sealed class ExeRuleFilesTests : IDisposable
{
    private readonly TempDir _dir = new();

    private string File(string relative)
    {
        string path = _dir.PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, relative);
        return path;
    }

    private static FileIdentity Id(string path)
    {
        Assert.True(FileStat.TryIdentify(path, out var id), path);
        return id;
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Literal_paths_name_one_file_each_and_missing_ones_nothing()
    {
        string a = File("sbin/a"), b = File("sbin/b");
        var found = ExeRuleFiles.Resolve([a, b, _dir.PathOf("sbin/not-there")]);
        Assert.Equal(new[] { Id(a), Id(b) }.ToHashSet(), found.ToHashSet());
        Assert.NotEqual(Id(a), Id(b));
    }

    [Fact]
    public void A_star_matches_within_one_directory_and_a_double_star_below_it()
    {
        string top = File("opt/db/server"), nested = File("opt/db/lib/bin/helper"), other = File("opt/web/server");
        Assert.Equal(new[] { Id(top) }.ToHashSet(), ExeRuleFiles.Resolve([_dir.PathOf("opt/db/*")]).ToHashSet());
        Assert.Equal(new[] { Id(top), Id(nested) }.ToHashSet(), ExeRuleFiles.Resolve([_dir.PathOf("opt/db/**")]).ToHashSet());
        Assert.Equal(new[] { Id(top), Id(other) }.ToHashSet(), ExeRuleFiles.Resolve([_dir.PathOf("opt/*/server")]).ToHashSet());
    }

    [Fact]
    public void A_symlinked_file_is_its_target_and_a_symlinked_directory_is_not_walked()
    {
        string real = File("usr/lib/python3.11");
        System.IO.File.CreateSymbolicLink(_dir.PathOf("usr/bin-python3"), real);
        Directory.CreateDirectory(_dir.PathOf("loop"));
        Directory.CreateSymbolicLink(_dir.PathOf("loop/again"), _dir.PathOf("loop")); // would never end if followed
        File("loop/tool");

        Assert.Equal(new[] { Id(real) }.ToHashSet(), ExeRuleFiles.Resolve([_dir.PathOf("usr/bin-*")]).ToHashSet());
        Assert.Equal(new[] { Id(_dir.PathOf("loop/tool")) }.ToHashSet(), ExeRuleFiles.Resolve([_dir.PathOf("loop/**")]).ToHashSet());
    }

    [Fact]
    public void A_replaced_file_is_another_identity()
    {
        // What a package upgrade does: write the new file beside the old, rename it over the old path.
        string path = File("sbin/daemon");
        var before = ExeRuleFiles.Resolve([path]).Single();
        System.IO.File.WriteAllText(path + ".new", "v2");
        System.IO.File.Move(path + ".new", path, overwrite: true);
        var after = ExeRuleFiles.Resolve([path]).Single();
        Assert.NotEqual(before, after);
    }
}
