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
}
