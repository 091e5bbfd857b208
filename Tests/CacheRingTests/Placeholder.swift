import Testing

@Suite struct CacheRingTestsPlaceholder {
    @Test func builds() { #expect(Bool(true)) }
}
