#if ConfigFiles
    // libyaml's event parser, through the C module that Yams wraps (Yams exposes no event API). The scan runs before
    // Yams builds any tree, so a hostile file is refused while it is still a stream of events.
    internal import CYaml

    /// Checks a YAML or JSON config file against the loader's limits before it is composed into a tree.
    ///
    /// Config files are input, so parsing them is bounded:
    /// - **Size**: at most ``maximumBytes`` (1 MiB).
    /// - **Aliases** (`*name`) are refused outright: the config schema never needs them, and expanding them is what makes
    ///   a 700-byte "billion laughs" file grow to gigabytes. Anchors alone (`&name`) are harmless and allowed.
    /// - **Nodes**: at most ``maximumNodes`` scalars, lists and mappings (a config of 1,000 Redis nodes, the most a
    ///   configuration may have, needs about 20,000).
    /// - **Depth**: lists and mappings nested at most ``maximumDepth`` deep (the schema needs 4); Yams composes
    ///   recursively, so this also keeps deep input from overflowing the stack.
    ///
    /// A syntax error is reported with its line, column and the key path where it happened, and libyaml's description
    /// of the problem (fixed text such as "found unexpected end of stream"), never the text of the line: the line may
    /// hold a password.
    enum ConfigFileScanner {
        /// The largest config file read, in bytes.
        static let maximumBytes = 1 << 20
        /// The most YAML nodes (scalars, lists, mappings) a config file may hold.
        static let maximumNodes = 100_000
        /// The deepest nesting of lists and mappings.
        static let maximumDepth = 32

        /// Where the scan is: one entry per open list or mapping.
        private enum Frame {
            /// A mapping; `key` is the key whose value comes next, nil while a key is expected.
            case mapping(key: String?)
            /// A list; `index` is the index of the next item.
            case list(index: Int)
        }

        /// Scans `bytes`; throws a ``CacheConfigFileSnapshot/ParseError`` naming the limit or the syntax problem.
        static func scan(_ bytes: [UInt8]) throws(CacheConfigFileSnapshot.ParseError) {
            guard bytes.count <= Self.maximumBytes else {
                throw .init(description: "the file has \(bytes.count) bytes, more than the limit of \(Self.maximumBytes) (1 MiB)")
            }
            let result: CacheConfigFileSnapshot.ParseError? = bytes.withUnsafeBufferPointer { buffer in
                var parser = yaml_parser_t()
                guard yaml_parser_initialize(&parser) == 1 else {
                    return .init(description: "cannot start the YAML parser (out of memory)")
                }
                defer { yaml_parser_delete(&parser) }
                yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
                yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
                var stack: [Frame] = []
                var nodes = 0
                while true {
                    var event = yaml_event_t()
                    guard yaml_parser_parse(&parser, &event) == 1 else {
                        return Self.syntaxError(parser, path: Self.path(stack))
                    }
                    defer { yaml_event_delete(&event) }
                    let line = event.start_mark.line + 1
                    let column = event.start_mark.column + 1
                    switch event.type {
                    case YAML_STREAM_END_EVENT:
                        return nil
                    case YAML_ALIAS_EVENT:
                        return .init(
                            description: "\(Self.where(stack, line, column)): YAML aliases (*name) are not supported in a config file"
                        )
                    case YAML_SCALAR_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                        nodes += 1
                        if nodes > Self.maximumNodes {
                            return .init(
                                description: "\(Self.where(stack, line, column)): the file has more than \(Self.maximumNodes) YAML nodes, the limit"
                            )
                        }
                        // A scalar in key position names the next path component.
                        if event.type == YAML_SCALAR_EVENT, case .mapping(key: nil) = stack.last {
                            let text = String(
                                decoding: UnsafeRawBufferPointer(start: event.data.scalar.value, count: event.data.scalar.length),
                                as: UTF8.self
                            )
                            stack[stack.count - 1] = .mapping(key: text)
                            continue
                        }
                        if case .mapping(key: nil) = stack.last {
                            // A list or mapping used as a key: the snapshot refuses it later with its path.
                            stack[stack.count - 1] = .mapping(key: "?")
                        }
                        if event.type == YAML_SCALAR_EVENT {
                            Self.advance(&stack)
                        } else {
                            if stack.count >= Self.maximumDepth {
                                return .init(
                                    description:
                                        "\(Self.where(stack, line, column)): lists and mappings are nested more than \(Self.maximumDepth) deep, the limit"
                                )
                            }
                            stack.append(event.type == YAML_MAPPING_START_EVENT ? .mapping(key: nil) : .list(index: 0))
                        }
                    case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                        _ = stack.popLast()
                        Self.advance(&stack)
                    default:
                        continue
                    }
                }
            }
            if let result { throw result }
        }

        /// Moves past a complete value: a mapping then expects a key, a list its next item.
        private static func advance(_ stack: inout [Frame]) {
            switch stack.last {
            case .mapping?: stack[stack.count - 1] = .mapping(key: nil)
            case .list(let index)?: stack[stack.count - 1] = .list(index: index + 1)
            case nil: break
            }
        }

        /// The dot-separated path of the value being read (`nodes.0.password`).
        private static func path(_ stack: [Frame]) -> String {
            var components: [String] = []
            for frame in stack {
                switch frame {
                case .mapping(let key?): components.append(key)
                case .mapping(nil): break
                case .list(let index): components.append(String(index))
                }
            }
            return components.joined(separator: ".")
        }

        private static func `where`(_ stack: [Frame], _ line: Int, _ column: Int) -> String {
            "line \(line), column \(column) (at \(CacheConfigFileSnapshot.displayPath(Self.path(stack))))"
        }

        /// libyaml's problem and context (fixed descriptions, never the input) with their positions.
        private static func syntaxError(_ parser: yaml_parser_t, path: String) -> CacheConfigFileSnapshot.ParseError {
            let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
            var text = "not valid YAML or JSON: line \(parser.problem_mark.line + 1), column \(parser.problem_mark.column + 1)"
            text += " (at \(CacheConfigFileSnapshot.displayPath(path))): \(problem)"
            if let context = parser.context.map({ String(cString: $0) }) {
                text += " (\(context) started at line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1))"
            }
            return .init(description: text)
        }
    }
#endif
