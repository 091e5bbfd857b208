import Testing

@Suite struct CacheTLSTestsPlaceholder {
    @Test func builds() { #expect(Bool(true)) }
}
