/// A parsed cache URL: `scheme://[user[:password]@]host[:port][,host[:port]…][/db][?name=value&…]`.
///
/// Mirrors async-caches' `CacheURL`: ``backend`` is the scheme, ``options`` is the query string with blank
/// values dropped. Unlike async-caches, a repeated option name (`?timeout=1&timeout=2`) and an empty host
/// (`redis://,h:6379`) are errors rather than silently resolved. Several comma-separated hosts name several
/// nodes. ``description`` never shows the password.
///
/// Decoding: `%XX` escapes are decoded everywhere (a `%` not followed by two hex digits is kept as written). A `+`
/// is a space in the query (`?password=a+b` is `a b`; write `%2B` for a plus) but a literal plus in the userinfo
/// (`redis://:a+b@h` has the password `a+b`), where generated passwords often carry one.
public struct CacheURL: Sendable, Hashable, CustomStringConvertible {
    /// One `host[:port]` of the URL.
    public struct Host: Sendable, Hashable {
        /// The host name or address (brackets of an IPv6 literal removed).
        public var host: String
        /// The port, if the URL gives one.
        public var port: Int?

        /// Creates a host entry.
        public init(host: String, port: Int?) {
            self.host = host
            self.port = port
        }
    }

    /// The scheme, which names the backend: `redis`, `rediss`, `memory`, `locmem` or `dummy`.
    public let backend: String
    /// Every `host[:port]` of the URL, in order (empty when the URL has none).
    public let hosts: [Host]
    /// The user name of the userinfo part, percent-decoded; a `+` in it is a plus.
    public let username: String?
    /// The password of the userinfo part, percent-decoded; a `+` in it is a plus. Never printed.
    public let password: String?
    /// The path without its leading `/`, or nil when empty (the Redis database number).
    public let database: String?
    /// The query options: blank values dropped, names and values percent-decoded with `+` read as a space (as
    /// Python's `parse_qsl`; write `%2B` for a plus). A name appears at most once.
    public let options: [String: String]
    private let raw: String

    /// The first host name, or nil.
    public var hostname: String? { self.hosts.first.map(\.host) }
    /// The first port, or nil.
    public var port: Int? { self.hosts.first?.port }
    /// The authority without userinfo (`host:port[,host:port]`), or nil when empty.
    public var netloc: String? {
        guard !self.hosts.isEmpty else { return nil }
        return self.hosts.map { h in h.port.map { "\(h.host):\($0)" } ?? h.host }.joined(separator: ",")
    }

    /// Parses a URL.
    ///
    /// - Parameter string: The URL text.
    /// - Throws: ``CacheError`` with code ``CacheError/Code/invalidURL`` when it has no scheme, an empty host or a
    ///   bad port, or names an option twice.
    public init(_ string: String) throws(CacheError) {
        self.raw = string
        guard let schemeEnd = Self.schemeSeparator(in: string) else {
            throw CacheError(.invalidURL, "cache URL \(Self.redacted(string)) has no scheme (expected e.g. redis://host:6379)")
        }
        self.backend = String(string[..<schemeEnd.lowerBound]).lowercased()
        var rest = Substring(string[schemeEnd.upperBound...])
        var query = Substring("")
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = Self.percentDecode(userinfo[..<colon], plusIsSpace: false)
                username = user.isEmpty ? nil : user
                password = Self.percentDecode(userinfo[userinfo.index(after: colon)...], plusIsSpace: false)
            } else if !userinfo.isEmpty {
                username = Self.percentDecode(userinfo, plusIsSpace: false)
            }
        }
        self.username = username
        self.password = password
        var hosts: [Host] = []
        if !rest.isEmpty {
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let host = try Self.parseHost(part, url: string)
                guard !host.host.isEmpty else {
                    throw CacheError(.invalidURL, "cache URL \(Self.redacted(string)) has an empty host (hosts are host[:port], comma-separated)")
                }
                hosts.append(host)
            }
        }
        self.hosts = hosts
        self.database = path.isEmpty ? nil : Self.percentDecode(path, plusIsSpace: false)
        var options: [String: String] = [:]
        var names: Set<String> = []
        for pair in query.split(separator: "&") {
            let name: Substring
            let value: Substring
            if let eq = pair.firstIndex(of: "=") {
                name = pair[..<eq]
                value = pair[pair.index(after: eq)...]
            } else {
                name = pair
                value = ""
            }
            let decodedName = Self.percentDecode(name, plusIsSpace: true)
            guard names.insert(decodedName).inserted else {
                throw CacheError(.invalidURL, "cache URL option \(String(reflecting: decodedName)) is given more than once")
            }
            guard !value.isEmpty else { continue }
            options[decodedName] = Self.percentDecode(value, plusIsSpace: true)
        }
        self.options = options
    }

    private static func parseHost(_ part: Substring, url: String) throws(CacheError) -> Host {
        var hostPart = part
        var portPart: Substring?
        if hostPart.first == "[", let close = hostPart.firstIndex(of: "]") {
            let after = hostPart[hostPart.index(after: close)...]
            if after.first == ":" { portPart = after.dropFirst() }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        var port: Int?
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value) else {
                throw CacheError(.invalidURL, "cache URL \(Self.redacted(url)) has an invalid port \(String(reflecting: String(portPart)))")
            }
            port = value
        }
        return Host(host: String(hostPart), port: port)
    }

    /// The range of the first `://`.
    private static func schemeSeparator(in string: String) -> Range<String.Index>? {
        var index = string.startIndex
        while index < string.endIndex {
            if string[index...].hasPrefix("://") {
                return index..<string.index(index, offsetBy: 3)
            }
            index = string.index(after: index)
        }
        return nil
    }

    /// Decodes `%XX` escapes; `+` is a space only where `plusIsSpace` (the query, as HTML forms and Python's
    /// `parse_qsl` read it), a literal `+` elsewhere (userinfo and path, as RFC 3986 reads them).
    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.contains("%") || (plusIsSpace && text.contains("+")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), index + 2 < utf8.count, let h = hexValue(utf8[index + 1]),
                let l = hexValue(utf8[index + 2])
            {
                bytes.append(h << 4 | l)
                index += 3
                continue
            }
            // A `%` not followed by two hex digits is kept as written (it used to swallow the next two bytes).
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index += 1
        }
        // Invalid UTF-8 after decoding (`%FF`) becomes U+FFFD, never an error or a trap.
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The URL text with any password replaced by `***`.
    static func redacted(_ string: String) -> String {
        guard let schemeEnd = Self.schemeSeparator(in: string) else { return string }
        let afterScheme = string[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else {
            return Self.redactQueryPassword(string)
        }
        var result = String(string[..<colon])
        result += ":***"
        result += string[at...]
        return Self.redactQueryPassword(result)
    }

    private static func redactQueryPassword(_ string: String) -> String {
        guard let q = string.firstIndex(of: "?") else { return string }
        let query = string[string.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let lower = pair.lowercased()
            if lower.hasPrefix("password=") || lower.hasPrefix("tls_key_passphrase=") {
                return pair.split(separator: "=", maxSplits: 1)[0] + "=***"
            }
            return String(pair)
        }
        return String(string[...q]) + query.joined(separator: "&")
    }

    /// The URL as written, with the password replaced by `***`.
    public var description: String { Self.redacted(self.raw) }

    public static func == (lhs: CacheURL, rhs: CacheURL) -> Bool { lhs.raw == rhs.raw }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.raw) }
}
