import Caches
import Testing

/// The seed's `tests/test_cache_url.py`, plus multi-host URLs and password redaction.
@Suite struct CacheURLTests {
    @Test func backendIsTakenFromScheme() throws {
        #expect(try CacheURL("dummy://").backend == "dummy")
    }

    @Test func hostnameAndPort() throws {
        #expect(try CacheURL("dummy://localhost").hostname == "localhost")
        #expect(try CacheURL("dummy://").hostname == nil)
        #expect(try CacheURL("redis://localhost:6379").port == 6379)
        #expect(try CacheURL("redis://localhost").port == nil)
    }

    @Test func netlocAndDatabase() throws {
        #expect(try CacheURL("redis://localhost:6379").netloc == "localhost:6379")
        #expect(try CacheURL("redis://").netloc == nil)
        #expect(try CacheURL("redis://localhost/0").database == "0")
        #expect(try CacheURL("redis://localhost/").database == nil)
    }

    @Test func optionsAreTakenFromQueryString() throws {
        let url = try CacheURL("redis://localhost?minsize=5&key_prefix=test")
        #expect(url.options == ["minsize": "5", "key_prefix": "test"])
        #expect(try CacheURL("redis://localhost").options.isEmpty)
        #expect(try CacheURL("redis://h?a=1&b=").options == ["a": "1"], "blank dropped")
        #expect(throws: CacheError.self, "a repeated name is an error") { try CacheURL("redis://h?a=1&a=2") }
    }

    @Test func urlComparesByItsText() throws {
        let url = try CacheURL("redis://localhost:6379/1")
        #expect(url == (try CacheURL("redis://localhost:6379/1")))
        #expect(url != (try CacheURL("dummy://")))
        #expect(url.description == "redis://localhost:6379/1")
    }

    @Test func passwordIsNeverPrinted() throws {
        let url = try CacheURL("redis://user:s3cret@localhost:6379/0?password=other")
        #expect(url.username == "user")
        #expect(url.password == "s3cret")
        #expect(!url.description.contains("s3cret"))
        #expect(!url.description.contains("other"))
        #expect(url.description.contains("***"))
        let error = #expect(throws: CacheError.self) { try CacheURL("redis://user:s3cret@localhost:99999") }
        #expect(error?.code == .invalidURL)
        #expect(error.map { !"\($0)".contains("s3cret") } == true)
    }

    @Test func severalHostsAndIPv6() throws {
        let url = try CacheURL("redis://10.0.0.1:7001,10.0.0.2,[::1]:7003/2")
        #expect(url.hosts == [.init(host: "10.0.0.1", port: 7001), .init(host: "10.0.0.2", port: nil), .init(host: "::1", port: 7003)])
        #expect(url.database == "2")
    }

    @Test func percentDecoding() throws {
        let url = try CacheURL("redis://:p%40ss%3Aword@h/0?key_prefix=a%20b")
        #expect(url.password == "p@ss:word")
        #expect(url.options["key_prefix"] == "a b")
    }

    @Test func plusIsASpaceInTheQueryAndAPlusInTheUserinfo() throws {
        let url = try CacheURL("redis://us+er:s3cr+t@h/0?password=a+b&key_prefix=c%2Bd&client_name=e+%2B+f")
        #expect(url.username == "us+er")
        #expect(url.password == "s3cr+t")
        #expect(url.options["password"] == "a b")
        #expect(url.options["key_prefix"] == "c+d")
        #expect(url.options["client_name"] == "e + f")
        // A password written in the userinfo reaches the node as written.
        let configuration = try CacheConfiguration(url: CacheURL("redis://:s3cr+t@h1:7001,h2:7002"))
        #expect(configuration.nodes.map(\.password) == ["s3cr+t", "s3cr+t"])
    }

    @Test func anEmptyNamesOrWeightsItemIsNamed() throws {
        let names = #expect(throws: CacheError.self) { try CacheConfiguration(url: CacheURL("redis://h1,h2?names=a,")) }
        #expect(names?.code == .invalidURL)
        #expect(names?.message.contains("names: item 2 of 2 is empty") == true, "\(names?.message ?? "")")
        let first = #expect(throws: CacheError.self) { try CacheConfiguration(url: CacheURL("redis://h1,h2,h3?names=,b,c")) }
        #expect(first?.message.contains("names: item 1 of 3 is empty") == true, "\(first?.message ?? "")")
        let weights = #expect(throws: CacheError.self) { try CacheConfiguration(url: CacheURL("redis://h1,h2?weights=1,")) }
        #expect(weights?.message.contains("weights: item 2 of 2 is empty") == true, "\(weights?.message ?? "")")
        let zero = #expect(throws: CacheError.self) { try CacheConfiguration(url: CacheURL("redis://h1,h2?weights=1,0")) }
        #expect(zero?.message.contains("weights: item 2 of 2") == true, "\(zero?.message ?? "")")
        // Too many items is still a count error.
        let count = #expect(throws: CacheError.self) { try CacheConfiguration(url: CacheURL("redis://h1?names=a,")) }
        #expect(count?.message.contains("2 item(s) for 1 host(s)") == true, "\(count?.message ?? "")")
    }

    @Test func anEmptyNodeNameFromCodeIsNamedByValidate() throws {
        let configuration = CacheConfiguration(
            backend: .redis,
            nodes: [.init(name: "a", host: "h1", port: 7001), .init(name: "", host: "h2", port: 7002)]
        )
        let error = #expect(throws: CacheError.self) { try configuration.validate() }
        #expect(error?.message.contains("nodes[1].name (nodes[i].name): must not be empty") == true, "\(error?.message ?? "")")
    }
}
