import Caches
import NIOCore

/// JSON output for `--json`: one document per command, written as Python's `json.dumps` writes it.
enum CLIJSON {
    /// The JSON text of a value.
    static func text(_ value: JSONValue) -> String {
        // JSONValue holds no NaN or infinity here, so encoding cannot fail.
        guard let buffer = try? CacheJSON.encode(value) else { return "null" }
        return String(buffer: buffer)
    }

    /// Prints a value as one JSON line on standard output.
    static func print(_ value: JSONValue) {
        Swift.print(self.text(value))
    }

    /// Parses JSON text given on the command line.
    static func parse(_ text: String, argument: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(Array(text.utf8))
        } catch {
            throw CacheError(
                .invalidArgument,
                "\(argument) must be JSON text (a string needs quotes: '\"hello\"'): \(error)"
            )
        }
    }

    /// A number for a measured figure, rounded to a tenth.
    static func number(_ value: Double) -> JSONValue {
        value.isFinite ? .double((value * 10).rounded() / 10) : .null
    }
}

extension CacheError {
    /// The error as a JSON object (`--json` output on failure).
    var json: JSONValue {
        var object: JSONObject = ["error": .string(self.code.description), "message": .string(self.message)]
        if let key = self.key { object["key"] = .string(key) }
        if let node = self.node { object["node"] = .string(node) }
        return .object(object)
    }
}
