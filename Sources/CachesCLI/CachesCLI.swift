import ArgumentParser
import Caches

/// The `caches` command: operate and measure a sharded cache from a shell.
@main
struct CachesCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caches",
        abstract: "Operate a swift-caches cache: read and write keys, locate them on the ring, check node health, measure.",
        discussion: """
            Every command reads the cache from --config FILE (default config/local.yaml) or --url URL, and prints one
            JSON document with --json. Values are JSON text, as the cache stores them.

            Examples:
              caches set greeting '"hello"' --ttl 60
              caches get greeting --json
              caches incr visits --by 5 --config config/tls.yaml
              caches ttl greeting
              caches get-or-set report:daily --ttl 3600 --lock --string -- ./make-report.sh
              caches clear --prefix-only --yes
              caches ring locate user:1 user:2 --json
              caches ring stats --keys 100000
              caches ring diff config/local.yaml config/bigger.yaml
              caches health --url 'redis://127.0.0.1:7001,127.0.0.1:7002?weights=1,2&names=a,b'
              caches bench -c 50 -n 200000 --ops get,set,getMany:100 --value-size 100
              caches config check --config config/production.example.yaml
              caches config settings --markdown
              caches demo --url 'redis://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003?weights=1,2,1'

            \(CLIExitCode.help)
            """,
        subcommands: [
            GetCommand.self, SetCommand.self, AddCommand.self, DeleteCommand.self, IncrCommand.self, DecrCommand.self,
            TouchCommand.self, TTLCommand.self, GetOrSetCommand.self, ClearCommand.self, RingCommand.self, HealthCommand.self,
            BenchCommand.self, NearDelayCommand.self, DemoCommand.self, ConfigCommand.self,
        ]
    )

    /// Runs the command; maps errors to the documented exit codes (argument errors to 2, not 64).
    static func main() async {
        // An application, unlike the library, may choose where its tasks run: `caches` runs them on one of
        // SwiftNIO's event loops, the one its connections then open on, so a caller resumes on the thread that read
        // its reply (see the README's benchmarks). CACHES_EVENT_LOOP_EXECUTOR=0 keeps Swift's global executor.
        if let executor = EventLoopTaskExecutor.everyLoop?.first {
            await withTaskExecutorPreference(executor) {
                await Self.runCommand()
            }
        } else {
            await Self.runCommand()
        }
    }

    /// Parses the arguments and runs the command; maps errors to the documented exit codes.
    private static func runCommand() async {
        do {
            var command = try Self.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as CacheError {
            printError("caches: \(error.code): \(error.message)\(error.key.map { " (key \($0))" } ?? "")\(error.node.map { " (node \($0))" } ?? "")")
            Self.exit(withError: CLIExitCode.code(for: error))
        } catch let error as ExitCode {
            Self.exit(withError: error)
        } catch {
            switch Self.exitCode(for: error) {
            case .validationFailure:
                printError(Self.fullMessage(for: error))
                Self.exit(withError: CLIExitCode.usage)
            case .failure:
                // Not an argument error: an error from below the cache (a socket, the runtime).
                printError("caches: \(error)")
                Self.exit(withError: CLIExitCode.node)
            default:
                Self.exit(withError: error)
            }
        }
    }
}
