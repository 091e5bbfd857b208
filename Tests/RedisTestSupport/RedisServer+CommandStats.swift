extension RedisServer {
    /// How often the server ran each command so far (`INFO commandstats`), by name as Redis reports it (`get`,
    /// `client|setname`).
    ///
    /// The one parser of `INFO commandstats` for every test. A TLS server is asked with `--insecure`, because some
    /// tests give their server a certificate that is wrong on purpose.
    ///
    /// - Returns: Command name → calls since the start or the last `CONFIG RESETSTAT`.
    /// - Throws: The errors of ``cli(arguments:timeout:authenticate:)``, or ``RedisServerError`` `.processFailed`
    ///   if the reply is not `INFO commandstats` or a line of it cannot be parsed (a silently skipped line would
    ///   make a count look like zero).
    public func commandCalls() async throws -> [String: Int] {
        let stats = try await self.cli(arguments: (self.tlsPort == nil ? [] : ["--insecure"]) + ["INFO", "commandstats"])
        guard stats.hasPrefix("# Commandstats") else {
            throw RedisServerError(.processFailed, "not an INFO commandstats reply from \(self.address): \(stats)")
        }
        var calls: [String: Int] = [:]
        for line in stats.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            // cmdstat_get:calls=3,usec=…
            let fields = line.dropFirst("cmdstat_".count).split(separator: ":", maxSplits: 1)
            guard fields.count == 2,
                let field = fields[1].split(separator: ",").first(where: { $0.hasPrefix("calls=") }),
                let count = Int(field.dropFirst("calls=".count))
            else {
                throw RedisServerError(.processFailed, "cannot parse the INFO commandstats line \(line) from \(self.address)")
            }
            calls[String(fields[0])] = count
        }
        return calls
    }
}
