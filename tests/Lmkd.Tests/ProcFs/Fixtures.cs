using System.Text;

namespace Lmkd.Tests.ProcFs;

internal static class Fixtures
{
    public static string Path(string relative) =>
        System.IO.Path.Combine(AppContext.BaseDirectory, "ProcFs", "Fixtures", relative);

    public static byte[] Bytes(string relative) => File.ReadAllBytes(Path(relative));

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}

/// <summary>A temporary directory removed on dispose; fixture trees are copied here so tests can add symlinks or edit files.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Root = Directory.CreateTempSubdirectory("lmkd-procfs-").FullName;
    }

    public string Root { get; }

    public string PathOf(string relative) => System.IO.Path.Combine(Root, relative);

    public static TempDir CopyOf(string fixtureRelative)
    {
        var dir = new TempDir();
        string source = Fixtures.Path(fixtureRelative);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = System.IO.Path.Combine(dir.Root, System.IO.Path.GetRelativePath(source, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return dir;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
