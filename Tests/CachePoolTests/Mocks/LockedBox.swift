import NIOConcurrencyHelpers

/// A value shared between test tasks.
final class LockedBox<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>

    init(_ value: Value) {
        self.box = NIOLockedValueBox(value)
    }

    var value: Value {
        self.box.withLockedValue { $0 }
    }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        self.box.withLockedValue { body(&$0) }
    }
}
