#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few file-system checks the loader and the watcher need, without Foundation.
enum ConfigFileSystem {
    /// Why a file (or directory) cannot be read, or nil when it can.
    static func problem(reading path: String, directory: Bool) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return "cannot read \(path): \(String(cString: strerror(errno)))"
        }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        if directory {
            guard isDirectory else { return "\(path) is not a directory" }
            guard access(path, R_OK | X_OK) == 0 else {
                return "cannot read \(path): \(String(cString: strerror(errno)))"
            }
            return nil
        }
        guard !isDirectory else { return "cannot read \(path): it is a directory" }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            return "cannot read \(path): \(String(cString: strerror(errno)))"
        }
        close(descriptor)
        return nil
    }

    /// What identifies one version of a file: device, inode, size and modification time; nil when it is missing.
    struct Version: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var seconds: Int
        var nanoseconds: Int
    }

    static func version(of path: String) -> Version? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
            return Version(
                device: UInt64(info.st_dev),
                inode: UInt64(info.st_ino),
                size: Int64(info.st_size),
                seconds: info.st_mtimespec.tv_sec,
                nanoseconds: info.st_mtimespec.tv_nsec
            )
        #else
            return Version(
                device: UInt64(info.st_dev),
                inode: UInt64(info.st_ino),
                size: Int64(info.st_size),
                seconds: info.st_mtim.tv_sec,
                nanoseconds: info.st_mtim.tv_nsec
            )
        #endif
    }
}
