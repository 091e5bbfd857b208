import Foundation
import Testing

/// The package carries what it cites: no file points at documents outside the repository, and every repository path
/// the README and `docs/` name exists.
@Suite struct RepositoryReferencesTests {
    /// The repository root, from this file's place in it (`Tests/CachesTests/`).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// What was cited from outside before the documents moved in; spelled in pieces so this file does not match.
    static let outsidePaths = [".." + "/shared", "shared" + "/seed/", "shared" + "/ketama/"]

    /// The text files of the repository a reader or a build sees (not `.build` or `.git`).
    static func repositoryFiles() throws -> [String] {
        let manager = FileManager.default
        var files = ["README.md", "Package.swift", "Makefile"].filter { manager.fileExists(atPath: root + "/" + $0) }
        for folder in ["Sources", "Tests", "Benchmarks", "scripts", "config", "docs", ".ci"] {
            guard let enumerator = manager.enumerator(atPath: root + "/" + folder) else { continue }
            for case let path as String in enumerator {
                if (path as NSString).lastPathComponent.hasPrefix(".build") {
                    enumerator.skipDescendants()
                    continue
                }
                var isDirectory: ObjCBool = false
                if manager.fileExists(atPath: root + "/" + folder + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    files.append(folder + "/" + path)
                }
            }
        }
        return files
    }

    @Test func noFileRefersToDocumentsOutsideTheRepository() throws {
        let files = try Self.repositoryFiles()
        #expect(files.contains("README.md"))
        #expect(files.contains { $0.hasPrefix("Sources/") })
        var offenders: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: Self.root + "/" + file) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            for needle in Self.outsidePaths where text.contains(needle) {
                offenders.append("\(file): \(needle)")
            }
        }
        #expect(offenders.isEmpty, "files citing documents outside the repository: \(offenders)")
    }

    @Test func everyRepositoryPathTheDocsNameExists() throws {
        let documents =
            ["README.md"]
            + (try FileManager.default.contentsOfDirectory(atPath: Self.root + "/docs")).filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        #expect(documents.contains("docs/SEMANTICS.md"))
        #expect(documents.contains("docs/KETAMA.md"))
        #expect(documents.contains("docs/WIRE.md"))
        let prefixes = ["Sources/", "Tests/", "docs/", "config/", "scripts/", "Benchmarks/"]
        var missing: [String] = []
        for document in documents {
            let text = try String(contentsOfFile: Self.root + "/" + document, encoding: .utf8)
            let base = (document as NSString).deletingLastPathComponent
            // `code spans` that are repository paths, and relative Markdown link targets.
            var cited: [(String, String)] = []
            for span in text.split(separator: "`", omittingEmptySubsequences: false).enumerated() where span.offset % 2 == 1 {
                let path = String(span.element)
                if prefixes.contains(where: path.hasPrefix), !path.contains(" "), !path.contains("…") { cited.append((path, "")) }
            }
            var rest = Substring(text)
            while let open = rest.range(of: "](") {
                rest = rest[open.upperBound...]
                guard let close = rest.firstIndex(of: ")") else { break }
                let target = String(rest[..<close])
                if !target.contains("://"), !target.hasPrefix("#"), !target.hasPrefix("mailto:") {
                    cited.append((String(target.split(separator: "#").first ?? ""), base))
                }
            }
            for (path, relativeTo) in cited {
                let full = Self.root + "/" + (relativeTo.isEmpty ? "" : relativeTo + "/") + path
                if !FileManager.default.fileExists(atPath: full) { missing.append("\(document): \(path)") }
            }
        }
        #expect(missing.isEmpty, "paths cited but not in the repository: \(missing)")
    }
}
