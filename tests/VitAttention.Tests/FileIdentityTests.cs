using System.Diagnostics;

namespace VitAttention.Tests;

public sealed class FileIdentityTests
{
    private string _dir = null!;
    private string _file = null!;

    [SetUp]
    public void Create()
    {
        _dir = FixturePaths.NewTempFolder();
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));
        _file = Path.Combine(_dir, "sub", "weights.bin");
        File.WriteAllBytes(_file, [1, 2, 3]);
    }

    [TearDown]
    public void Delete() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void SameFile_EverySpellingOfOneFile_IsTheSameFile()
    {
        string symlink = Path.Combine(_dir, "link.bin");
        File.CreateSymbolicLink(symlink, _file);
        string dirLink = Path.Combine(_dir, "sublink");
        Directory.CreateSymbolicLink(dirLink, Path.Combine(_dir, "sub"));
        string hard = Path.Combine(_dir, "hard.bin");
        using (var ln = Process.Start(new ProcessStartInfo("ln", [_file, hard]) { UseShellExecute = false })!)
        {
            ln.WaitForExit();
        }

        foreach (string spelling in new[] { _file, Path.Combine(_dir, "sub", "..", "sub", ".", "weights.bin"), symlink, Path.Combine(dirLink, "weights.bin"), hard })
        {
            Assert.That(FileIdentity.SameFile(spelling, _file), Is.True, spelling);
            Assert.That(FileIdentity.Of(spelling), Is.EqualTo(FileIdentity.Of(_file)), spelling);
        }
    }

    [Test]
    public void SameFile_ACopyOrAMissingFile_IsNotTheSameFile()
    {
        string copy = Path.Combine(_dir, "copy.bin");
        File.Copy(_file, copy);
        Assert.That(FileIdentity.SameFile(copy, _file), Is.False);
        Assert.That(FileIdentity.SameFile(Path.Combine(_dir, "missing.bin"), _file), Is.False);
        Assert.That(FileIdentity.Of(Path.Combine(_dir, "missing.bin")), Is.Null);
    }

    [Test]
    public void Of_OnThisSystem_AsksTheFileSystemRatherThanComparingPaths()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsWindows());
        Assert.That(FileIdentity.Of(_file), Is.Not.Null, "stat (or the Windows file index) is reachable here");
    }
}
