import Testing

@Suite struct CachesTestsPlaceholder {
    @Test func builds() { #expect(Bool(true)) }
}
