import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creates and removes private temporary directories for servers and helper processes.
enum TemporaryDirectory {
    /// Creates a new empty directory (mode 0700) under the system's temporary directory.
    ///
    /// - Parameter prefix: The start of the directory's name.
    /// - Returns: Its absolute path.
    /// - Throws: ``RedisServerError`` `.startFailed` if `mkdtemp` fails.
    static func make(prefix: String) throws -> String {
        var base = FileManager.default.temporaryDirectory.path
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) }
        guard created != nil else {
            throw RedisServerError(.startFailed, "mkdtemp in \(base) failed: errno \(errno)")
        }
        return template.withUnsafeBufferPointer { buffer in String(cString: buffer.baseAddress!) }
    }

    /// Removes a directory and everything in it, ignoring errors.
    ///
    /// - Parameter path: The directory.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
