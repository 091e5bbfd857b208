extension OpenSSLClientHandler {
    /// The life of one TLS connection, as a value the handler switches over.
    ///
    /// `idle` → `handshaking` → `active` → `closing` (close_notify sent, channel closing) → `closed`.
    /// Any state can jump to `closed` when the handshake fails or the channel goes away.
    struct StateMachine {
        /// Where the connection is.
        enum State: Equatable {
            /// The channel isn't active yet.
            case idle
            /// The handshake has started and not finished.
            case handshaking
            /// The handshake finished; application data flows.
            case active
            /// We sent close_notify and asked the channel to close.
            case closing
            /// The connection is over.
            case closed
        }

        /// What to do when the channel becomes inactive.
        enum InactiveAction: Equatable {
            /// Report an unclean shutdown: the peer went away without close_notify.
            case reportUncleanShutdown(duringHandshake: Bool)
            /// Nothing to report.
            case none
        }

        /// What to do when the user asks to close the channel.
        enum CloseAction: Equatable {
            /// Send close_notify, then close the channel.
            case sendCloseNotifyAndClose
            /// Close the channel without TLS shutdown.
            case closeChannel
        }

        /// What to do with bytes from the network.
        enum ReadAction: Equatable {
            /// Continue the handshake.
            case continueHandshake
            /// Decrypt and forward application data.
            case decrypt
            /// Drop them: the connection is over.
            case ignore
        }

        private(set) var state: State = .idle

        /// The channel is active (or the handler was added to an active channel).
        ///
        /// - Returns: `true` if the handshake should start now.
        mutating func channelActive() -> Bool {
            guard self.state == .idle else { return false }
            self.state = .handshaking
            return true
        }

        /// The handshake finished.
        mutating func handshakeCompleted() {
            precondition(self.state == .handshaking, "handshake completed in state \(self.state)")
            self.state = .active
        }

        /// The handshake, a read or a write failed for good.
        mutating func failed() {
            self.state = .closed
        }

        /// Bytes arrived from the network.
        ///
        /// - Returns: What to do with them.
        func channelRead() -> ReadAction {
            switch self.state {
            case .handshaking: .continueHandshake
            case .active: .decrypt
            case .idle, .closing, .closed: .ignore
            }
        }

        /// Whether encrypted application data can be written now.
        var canWriteApplicationData: Bool { self.state == .active }

        /// The user asked to close the channel.
        ///
        /// - Returns: Whether to send close_notify first.
        mutating func closeRequested() -> CloseAction {
            switch self.state {
            case .active:
                self.state = .closing
                return .sendCloseNotifyAndClose
            case .idle, .handshaking, .closing, .closed:
                self.state = .closed
                return .closeChannel
            }
        }

        /// The peer sent close_notify.
        ///
        /// - Returns: `true` if we should answer with our own close_notify and close.
        mutating func closeNotifyReceived() -> Bool {
            guard self.state == .active else { return false }
            self.state = .closing
            return true
        }

        /// The channel became inactive.
        ///
        /// - Returns: Whether this was an unclean shutdown.
        mutating func channelInactive() -> InactiveAction {
            let old = self.state
            self.state = .closed
            switch old {
            case .handshaking: return .reportUncleanShutdown(duringHandshake: true)
            case .active: return .reportUncleanShutdown(duringHandshake: false)
            case .idle, .closing, .closed: return .none
            }
        }
    }
}
