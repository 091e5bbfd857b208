#if ConfigFiles
    import Configuration
    import Yams

    /// A YAML or JSON config file flattened into dot-separated keys (`pool.maxConnections`, `nodes.1.weight`), as a
    /// swift-configuration snapshot.
    ///
    /// swift-configuration's own YAML and JSON snapshots reject lists of mappings, and `nodes:` is one; this snapshot
    /// numbers list items instead, so a `ConfigReader` reads `nodes.1.weight` like any other key. It also keeps the
    /// shape of the file (which paths are mappings, lists or scalars) so the loader can reject unknown keys.
    /// JSON is read with the YAML parser (JSON is YAML's flow style).
    package final class CacheConfigFileSnapshot: Sendable {
        /// Which keys hold secrets.
        package struct ParsingOptions: FileParsingOptions {
            /// Returns whether the dot-separated key holds a secret (redacted when printed).
            package var isSecret: @Sendable (String) -> Bool
            /// Whether the file is JSON (`.json`): it is then checked as strict JSON first (no trailing commas, no
            /// comments, no YAML-only syntax) before being read like YAML.
            package var isJSON: Bool

            /// Creates parsing options.
            package init(isSecret: @escaping @Sendable (String) -> Bool, isJSON: Bool = false) {
                self.isSecret = isSecret
                self.isJSON = isJSON
            }

            package static var `default`: Self { .init(isSecret: { _ in false }) }
        }

        /// What a path of the file holds.
        package enum Shape: Sendable, Hashable {
            /// A mapping (its keys are further paths).
            case mapping
            /// A list of this many items (items are paths `path.0`, `path.1`, …).
            case list(count: Int)
            /// A scalar: its text, and whether it was quoted (a quoted `"7001"` is a string, not a number).
            case scalar(String, quoted: Bool)
            /// An explicit null (`~`, `null` or nothing after the colon): treated as absent.
            case null
        }

        /// A file that is not valid YAML or JSON, or whose top level is not a mapping.
        package struct ParseError: Error, CustomStringConvertible {
            package var description: String
        }

        /// A value that does not convert to the type asked for.
        package struct ConversionError: Error, CustomStringConvertible {
            package var description: String
        }

        package let providerName: String
        /// Every path of the file (dot-separated, list items numbered) and what it holds. The root is `""`.
        package let shapes: [String: Shape]
        private let secretKeys: Set<String>

        /// Parses a YAML or JSON document.
        ///
        /// - Parameters:
        ///   - text: The document.
        ///   - providerName: The name shown in descriptions (the file's path).
        ///   - isSecret: Returns whether a dot-separated key holds a secret.
        ///   - isJSON: Whether the text must be strict JSON.
        /// - Throws: ``ParseError`` when the text is not YAML (or, with `isJSON`, not JSON), exceeds a limit of
        ///   ``ConfigFileScanner`` (size, aliases, node count, depth) or its top level is not a mapping. Its description
        ///   gives line, column and key path, never the text of the file, which may hold secrets.
        package init(text: String, providerName: String, isSecret: (String) -> Bool = { _ in false }, isJSON: Bool = false) throws {
            self.providerName = providerName
            let bytes = Array(text.utf8)
            if bytes.count <= ConfigFileScanner.maximumBytes, isJSON {
                do {
                    _ = try JSONParser.parse(bytes)
                } catch {
                    let (line, column) = Self.position(ofByte: error.offset, in: bytes)
                    throw ParseError(description: "not valid JSON: line \(line), column \(column): \(Self.describe(error.code))")
                }
            }
            try ConfigFileScanner.scan(bytes)
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch {
                // Never Yams' own description: it quotes the offending line, which may hold a password.
                throw ParseError(description: "not valid YAML or JSON: \(Self.describe(error))")
            }
            guard let root else {
                self.shapes = ["": .mapping]
                self.secretKeys = []
                return
            }
            guard root.mapping != nil else {
                throw ParseError(description: "the top level must be a mapping of keys")
            }
            var shapes: [String: Shape] = [:]
            var pending: [(String, Node)] = [("", root)]
            while let (path, node) = pending.popLast() {
                switch node {
                case .mapping(let mapping):
                    shapes[path] = .mapping
                    for (key, value) in mapping {
                        guard let name = key.scalar?.string, !name.isEmpty, !name.contains(".") else {
                            let shown = key.scalar?.string ?? "\(key)"
                            throw ParseError(description: "\(Self.displayPath(path)): \(String(reflecting: shown)) is not a valid key")
                        }
                        let child = path.isEmpty ? name : path + "." + name
                        if shapes[child] != nil {
                            throw ParseError(description: "\(Self.displayPath(child)): the key appears twice")
                        }
                        shapes[child] = .null
                        pending.append((child, value))
                    }
                case .sequence(let sequence):
                    shapes[path] = .list(count: sequence.count)
                    for (index, item) in sequence.enumerated() {
                        pending.append((path + ".\(index)", item))
                    }
                case .scalar(let scalar):
                    if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                        shapes[path] = .null
                    } else {
                        shapes[path] = .scalar(scalar.string, quoted: scalar.style != .plain)
                    }
                case .alias:
                    throw ParseError(description: "\(Self.displayPath(path)): YAML aliases are not supported")
                }
            }
            self.shapes = shapes
            self.secretKeys = Set(shapes.keys.filter(isSecret))
        }

        /// A Yams error as line, column and problem, without the snippet of the file Yams quotes.
        static func describe(_ error: any Error) -> String {
            guard let error = error as? YamlError else { return "the YAML parser failed" }
            func at(_ mark: Mark?) -> String {
                guard let mark else { return "" }
                return "line \(mark.line), column \(mark.column): "
            }
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
                return at(mark) + problem
            case .composer(_, let problem, let mark, _):
                return at(mark) + problem
            case .reader(let problem, let offset, _, _):
                return "byte \(offset ?? 0): \(problem)"
            case .duplicatedKeysInMapping(let duplicates, let context):
                // Keys are schema names, not values; the context's text (the whole file) is left out.
                return at(context.mark) + "duplicate keys \(duplicates.joined(separator: ", "))"
            default:
                return "the YAML parser failed"
            }
        }

        private static func describe(_ code: JSONParsingError.Code) -> String {
            switch code {
            case .unexpectedEnd: "the file ends inside a value"
            case .unexpectedByte: "unexpected character (a trailing comma, a comment or YAML syntax are not JSON)"
            case .invalidNumber: "invalid number"
            case .invalidEscape: "invalid escape in a string"
            case .controlCharacterInString: "a control character in a string"
            case .invalidUTF8: "invalid UTF-8"
            case .tooDeep: "nested too deep"
            case .trailingData: "more than one value"
            default: "\(code)"
            }
        }

        /// The 1-based line and column (in bytes) of a byte offset.
        private static func position(ofByte offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
            var line = 1
            var column = 1
            for byte in bytes.prefix(max(0, min(offset, bytes.count))) {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return (line, column)
        }

        /// A dot-separated path as the loader's messages show it: `nodes.1.weight` → `nodes[1].weight`.
        package static func displayPath(_ path: String) -> String {
            if path.isEmpty { return "(top level)" }
            var text = ""
            for component in path.split(separator: ".", omittingEmptySubsequences: false) {
                if component.allSatisfy(\.isNumber), !component.isEmpty {
                    text += "[\(component)]"
                } else {
                    text += text.isEmpty ? String(component) : "." + component
                }
            }
            return text
        }

        private func content(of text: String, key: String, type: ConfigType) throws -> ConfigContent {
            func fail() -> ConversionError {
                ConversionError(description: "\(Self.displayPath(key)): \(String(reflecting: text)) is not a \(type.rawValue)")
            }
            switch type {
            case .string:
                return .string(text)
            case .int:
                guard let value = Int(text) else { throw fail() }
                return .int(value)
            case .double:
                guard let value = Double(text) else { throw fail() }
                return .double(value)
            case .bool:
                switch text {
                case "true", "True", "TRUE": return .bool(true)
                case "false", "False", "FALSE": return .bool(false)
                default: throw fail()
                }
            case .bytes, .stringArray, .intArray, .doubleArray, .boolArray, .byteChunkArray:
                throw fail()
            }
        }
    }

    // MARK: FileConfigSnapshot

    extension CacheConfigFileSnapshot: FileConfigSnapshot {
        package convenience init(data: RawSpan, providerName: String, parsingOptions: ParsingOptions) throws {
            let bytes = data.withUnsafeBytes { Array($0) }
            guard bytes.count <= ConfigFileScanner.maximumBytes else {
                throw ParseError(description: "the file has \(bytes.count) bytes, more than the limit of \(ConfigFileScanner.maximumBytes) (1 MiB)")
            }
            try self.init(
                text: String(decoding: bytes, as: UTF8.self),
                providerName: providerName,
                isSecret: parsingOptions.isSecret,
                isJSON: parsingOptions.isJSON
            )
        }

        package func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
            let encoded = key.components.joined(separator: ".")
            guard case .scalar(let text, _) = self.shapes[encoded] else {
                return LookupResult(encodedKey: encoded, value: nil)
            }
            let content = try self.content(of: text, key: encoded, type: type)
            return LookupResult(encodedKey: encoded, value: ConfigValue(content, isSecret: self.secretKeys.contains(encoded)))
        }

        package var description: String {
            "\(self.providerName)[\(self.shapes.count) keys]"
        }

        /// Every scalar as `key=value`, secrets shown as `<REDACTED>`.
        package var debugDescription: String {
            let values = self.shapes.keys.sorted().compactMap { key -> String? in
                guard case .scalar(let text, _) = self.shapes[key] else { return nil }
                return "\(key)=\(self.secretKeys.contains(key) ? "<REDACTED>" : text)"
            }
            return "\(self.providerName)[\(values.joined(separator: ", "))]"
        }
    }
#endif
