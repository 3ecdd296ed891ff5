using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace VitAttention;

/// <summary>
/// Which file a path names, whatever its spelling: the device and inode on Unix (from <c>stat</c>, which follows
/// symbolic links), the volume serial number and file index on Windows. Two paths with the same identity are the same
/// file: the same path written relatively or with <c>..</c>, a symbolic link to it, or a hard link.
/// </summary>
internal readonly record struct FileIdentity(ulong Device, ulong Index)
{
    private static readonly unsafe delegate* unmanaged<byte*, byte*, int> s_stat = FindStat(out s_xstatVersion, out s_xstat);
    private static readonly int s_xstatVersion;
    private static readonly unsafe delegate* unmanaged<int, byte*, byte*, int> s_xstat;

    /// <summary>The identity of the existing file <paramref name="path"/>, or null when it does not exist or cannot be examined.</summary>
    /// <param name="path">Any spelling of the path.</param>
    /// <returns>The identity, or null.</returns>
    public static FileIdentity? Of(string path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            return null;
        }

        try
        {
            return OperatingSystem.IsWindows() ? OfWindows(path) : OfUnix(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// True when the two paths name the same existing file. Falls back to comparing the full paths with links resolved
    /// when the system cannot be asked.
    /// </summary>
    /// <param name="a">A path.</param>
    /// <param name="b">Another path.</param>
    /// <returns>Whether both exist and are one file.</returns>
    public static bool SameFile(string a, string b)
    {
        if (Of(a) is { } x && Of(b) is { } y)
        {
            return x == y;
        }

        return File.Exists(a) && File.Exists(b) && string.Equals(Resolved(a), Resolved(b), StringComparison.Ordinal);
    }

    private static string Resolved(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            return new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }

    private static unsafe FileIdentity? OfUnix(string path)
    {
        if (s_stat == null && s_xstat == null)
        {
            return null;
        }

        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        byte* buffer = stackalloc byte[512]; // struct stat is 144 bytes on x86-64 Linux, 128 on arm64, 144 on macOS
        int result;
        fixed (byte* p = name)
        {
            result = s_stat != null ? s_stat(p, buffer) : s_xstat(s_xstatVersion, p, buffer);
        }

        if (result != 0)
        {
            return null;
        }

        // Linux (x86-64 and arm64): dev_t st_dev (8 bytes), ino_t st_ino (8). macOS: dev_t st_dev (4), mode (2), nlink (2), ino (8).
        ulong device = OperatingSystem.IsMacOS() ? *(uint*)buffer : *(ulong*)buffer;
        ulong inode = *(ulong*)(buffer + 8);
        return new FileIdentity(device, inode);
    }

    private static unsafe delegate* unmanaged<byte*, byte*, int> FindStat(out int xstatVersion, out delegate* unmanaged<int, byte*, byte*, int> xstat)
    {
        xstatVersion = 0;
        xstat = null;
        if (OperatingSystem.IsWindows() || !(RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64))
        {
            return null;
        }

        string[] names = OperatingSystem.IsMacOS() ? ["libSystem.dylib"] : ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];
        foreach (string name in names)
        {
            if (!NativeLibrary.TryLoad(name, out IntPtr library))
            {
                continue;
            }

            if (NativeLibrary.TryGetExport(library, "stat", out IntPtr stat))
            {
                return (delegate* unmanaged<byte*, byte*, int>)stat;
            }

            // glibc before 2.33 exports stat only as __xstat(version, path, buffer); version 1 on x86-64, 0 on arm64.
            if (NativeLibrary.TryGetExport(library, "__xstat", out IntPtr old))
            {
                xstatVersion = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 1 : 0;
                xstat = (delegate* unmanaged<int, byte*, byte*, int>)old;
                return null;
            }
        }

        return null;
    }

    private static FileIdentity? OfWindows(string path)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return GetFileInformationByHandle(handle, out ByHandleFileInformation info)
            ? new FileIdentity(info.VolumeSerialNumber, ((ulong)info.FileIndexHigh << 32) | info.FileIndexLow)
            : null;
    }

    [DllImport("kernel32.dll", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool GetFileInformationByHandle(SafeFileHandle file, out ByHandleFileInformation information);

    [StructLayout(LayoutKind.Sequential, Pack = 4)] // FILETIMEs are two DWORDs: 4-byte aligned
    private struct ByHandleFileInformation
    {
        public uint FileAttributes;
        public long CreationTime;
        public long LastAccessTime;
        public long LastWriteTime;
        public uint VolumeSerialNumber;
        public uint FileSizeHigh;
        public uint FileSizeLow;
        public uint NumberOfLinks;
        public uint FileIndexHigh;
        public uint FileIndexLow;
    }
}
