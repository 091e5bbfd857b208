import Foundation

/// One line of `seed_interop.py read`: a case's value as the real async-caches read it back.
public struct SeedReadRecord: Sendable, Decodable {
    /// The vector's case name.
    public let `case`: String
    /// The key the case reads (a case such as `set_many` has several).
    public let key: String
    /// The raw Redis key async-caches built, as lowercase hex.
    public let rawKeyHex: String
    /// The decoded value.
    public let value: SeedValue
    /// The Python type of the value: `str`, `int`, `float`, `bool`, `null`, `list` or `dict`.
    public let type: String

    enum CodingKeys: String, CodingKey {
        case `case`, key, value, type
        case rawKeyHex = "raw_key_hex"
    }
}

/// One line of `seed_interop.py dump`: a key of the database with its raw bytes and TTL.
public struct SeedDumpRecord: Sendable, Decodable {
    /// The raw key, as lowercase hex.
    public let rawKeyHex: String
    /// The raw value, as lowercase hex, or `nil` for a non-string key.
    public let rawValueHex: String?
    /// The key's TTL in seconds, -1 if it has none.
    public let ttl: Int

    enum CodingKeys: String, CodingKey {
        case rawKeyHex = "raw_key_hex"
        case rawValueHex = "raw_value_hex"
        case ttl
    }
}

/// Runs `scripts/seed_interop.py`, the real async-caches 0.3.0 (Python), against a test server.
///
/// The script runs with the project's venv, `.venv/bin/python`, which `make deps` creates.
public struct SeedInteropScript: Sendable {
    /// The repository's root directory.
    public let repositoryRoot: String
    /// The venv's Python interpreter.
    public let python: String
    /// The script's path.
    public let script: String

    /// Locates the script and the venv's Python.
    ///
    /// - Parameter filePath: A source file inside the repository; defaults to the caller's `#filePath`.
    /// - Throws: ``RedisServerError`` `.toolNotFound` ("… run `make deps`") if `.venv/bin/python` or the script is
    ///   missing.
    public init(filePath: StaticString = #filePath) throws {
        let root = try RepositoryRoot.path(from: filePath)
        self.repositoryRoot = root
        self.python = root + "/.venv/bin/python"
        self.script = root + "/scripts/seed_interop.py"
        guard FileManager.default.isExecutableFile(atPath: self.python) else {
            throw RedisServerError(.toolNotFound, "\(self.python) not found: run `make deps` (it creates .venv with async-caches 0.3.0)")
        }
        guard FileManager.default.fileExists(atPath: self.script) else {
            throw RedisServerError(.toolNotFound, "\(self.script) not found")
        }
    }

    /// Clears database `db` and performs every case of the wire vectors through async-caches.
    ///
    /// - Parameters:
    ///   - server: The server to write to (its default-user password is used if set).
    ///   - db: The database number.
    /// - Throws: ``RedisServerError`` `.processFailed` with the script's message if it fails.
    public func write(to server: RedisServer, db: Int) async throws {
        _ = try await self.run("write", server: server, db: db)
    }

    /// Reads every case that has a value back through async-caches.
    ///
    /// - Parameters:
    ///   - server: The server to read from.
    ///   - db: The database number.
    /// - Returns: One record per (case, key), in the vectors' order.
    /// - Throws: ``RedisServerError`` `.processFailed` if the script fails, `DecodingError` on a malformed line.
    public func read(from server: RedisServer, db: Int) async throws -> [SeedReadRecord] {
        try self.decodeLines(try await self.run("read", server: server, db: db))
    }

    /// Lists every key of database `db` with its raw bytes and TTL.
    ///
    /// - Parameters:
    ///   - server: The server to read from.
    ///   - db: The database number.
    /// - Returns: One record per key, sorted by key bytes.
    /// - Throws: ``RedisServerError`` `.processFailed` if the script fails, `DecodingError` on a malformed line.
    public func dump(from server: RedisServer, db: Int) async throws -> [SeedDumpRecord] {
        try self.decodeLines(try await self.run("dump", server: server, db: db))
    }

    private func run(_ command: String, server: RedisServer, db: Int) async throws -> String {
        var environment: [String: String] = [:]
        if let password = server.password {
            environment["SEED_INTEROP_PASSWORD"] = password
        }
        let output = try await ProcessRunner.run(
            self.python,
            arguments: [self.script, command, "--host", server.host, "--port", String(server.port), "--db", String(db)],
            environment: environment,
            unsetting: environment.isEmpty ? ["SEED_INTEROP_PASSWORD"] : [],
            timeout: .seconds(60)
        )
        guard output.succeeded else {
            throw RedisServerError(
                .processFailed,
                "seed_interop.py \(command) failed (status \(output.status)): \(output.standardError)\(output.standardOutput)"
            )
        }
        return output.standardOutput
    }

    private func decodeLines<Record: Decodable>(_ text: String) throws -> [Record] {
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").filter { !$0.isEmpty }.map { line in
            try decoder.decode(Record.self, from: Data(line.utf8))
        }
    }
}
