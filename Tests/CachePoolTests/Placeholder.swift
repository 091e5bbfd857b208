import Testing

@Suite struct CachePoolTestsPlaceholder {
    @Test func builds() { #expect(Bool(true)) }
}
