import ArgumentParser
import Caches

/// `caches config`: the settings table, and a check of a config file or URL.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the settings table, or check a config file or URL.",
        subcommands: [ConfigSettingsCommand.self, ConfigCheckCommand.self]
    )
}

/// `caches config settings [--markdown]`: every setting, its file key, URL option, environment variable, type,
/// range and default.
struct ConfigSettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Print every setting: file key, URL option, environment variable, type, range, default, meaning."
    )

    @Flag(name: .long, help: "Print the README's Markdown table.")
    var markdown = false

    func run() throws {
        print(self.markdown ? CacheSettings.markdownTable() : CacheSettings.textTable(), terminator: "")
    }
}

/// `caches config check`: loads `--config` or `--url`, validates it and prints the resolved settings, secrets
/// redacted. Exit code 0, or 2 (usage) naming the file and key path or the URL option.
struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load and validate --config or --url; print the resolved settings, secrets redacted."
    )

    @OptionGroup var options: CacheOptions

    func run() async throws {
        let configuration = try await self.options.makeConfiguration()
        try configuration.validate()
        let entries = CacheSettings.entries(of: configuration)
        if self.options.json {
            CLIJSON.print(.object(JSONObject(entries.map { ($0.path, JSONValue.string($0.value)) })))
        } else {
            for entry in entries { print(entry) }
        }
    }
}
