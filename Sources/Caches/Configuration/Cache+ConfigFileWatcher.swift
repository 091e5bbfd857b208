#if ConfigFiles
    import Logging

    extension Cache {
        /// Watches a config file and applies each change with ``Cache/reload(configuration:)``, until the task is
        /// cancelled.
        ///
        /// Polls the file's inode, size and modification time every `interval`: no background task of its own, so the
        /// cache's `run()` (or a test) calls it inside its task group. A change that does not load or cannot be
        /// applied is logged at `info` and skipped; the cache keeps its topology until the next good change.
        /// Replace the file atomically (write a temporary file, then rename it) so a half-written file is never read.
        ///
        /// - Parameters:
        ///   - path: The file; nil (the default) watches the file the cache was created from, if any.
        ///   - interval: How often the file is checked. Default: 2 seconds.
        ///   - environment: The environment variables read over the file; nil reads the process's environment.
        ///   - onReload: Called after each change with the configuration applied, or the error that stopped it.
        package func watchConfigurationFile(
            _ path: String? = nil,
            interval: Duration = .seconds(2),
            environment: [String: String]? = nil,
            onReload: (@Sendable (Result<CacheConfiguration, CacheError>) async -> Void)? = nil
        ) async {
            guard let path = path ?? self.configurationFile else { return }
            // A change made after the cache read its file, before the watch began, is applied on the first check.
            var seen = path == self.configurationFile ? self.configurationFileVersion : ConfigFileSystem.version(of: path)
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                // A missing file is the middle of a replacement, or a mistake: keep the topology, look again later.
                guard let now = ConfigFileSystem.version(of: path), now != seen else { continue }
                seen = now
                do {
                    let configuration = try await CacheConfiguration.load(fromFile: path, environment: environment)
                    try await self.reload(configuration: configuration)
                    self.logger.debug("config file change applied", metadata: ["cache.config.file": "\(path)"])
                    await onReload?(.success(configuration))
                } catch {
                    let cacheError = error as? CacheError ?? CacheError(.invalidConfiguration, "\(error)", underlyingError: error)
                    self.logger.info(
                        "config file change not applied",
                        metadata: ["cache.config.file": "\(path)", "cache.error": "\(cacheError.message)"]
                    )
                    await onReload?(.failure(cacheError))
                }
            }
        }
    }
#endif
