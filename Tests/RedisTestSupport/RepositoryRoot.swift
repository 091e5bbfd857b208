import Foundation

/// Finds the package's root directory (the one with `Package.swift`) from a source file's path.
public enum RepositoryRoot {
    /// Walks up from `filePath` to the first directory that holds `Package.swift` and `scripts/`.
    ///
    /// - Parameter filePath: A source file inside the repository; defaults to the caller's `#filePath`.
    /// - Returns: The root's absolute path.
    /// - Throws: ``RedisServerError`` `.invalidConfiguration` if no parent directory qualifies.
    public static func path(from filePath: StaticString = #filePath) throws -> String {
        var directory = URL(fileURLWithPath: "\(filePath)").deletingLastPathComponent()
        while directory.path != "/" && !directory.path.isEmpty {
            let manifest = directory.appendingPathComponent("Package.swift").path
            let scripts = directory.appendingPathComponent("scripts").path
            if FileManager.default.fileExists(atPath: manifest) && FileManager.default.fileExists(atPath: scripts) {
                return directory.path
            }
            directory = directory.deletingLastPathComponent()
        }
        throw RedisServerError(.invalidConfiguration, "no directory above \(filePath) holds Package.swift and scripts/")
    }
}
