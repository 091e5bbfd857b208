import Testing

@testable import CacheTLS

@Suite("OpenSSLClientHandler.StateMachine")
struct OpenSSLClientHandlerStateMachineTests {
    typealias Machine = OpenSSLClientHandler.StateMachine

    @Test func handshakeStartsOnceThenDataFlows() {
        var machine = Machine()
        #expect(machine.channelRead() == .ignore)
        let result1 = machine.channelActive()
        #expect(result1)
        let result2 = machine.channelActive()
        #expect(!result2, "a second channelActive must not restart the handshake")
        #expect(machine.state == .handshaking)
        #expect(machine.channelRead() == .continueHandshake)
        #expect(!machine.canWriteApplicationData)
        machine.handshakeCompleted()
        #expect(machine.state == .active)
        #expect(machine.channelRead() == .decrypt)
        #expect(machine.canWriteApplicationData)
    }

    @Test func closeWhileActiveSendsCloseNotifyAndIsClean() {
        var machine = Machine()
        _ = machine.channelActive()
        machine.handshakeCompleted()
        let result3 = machine.closeRequested()
        #expect(result3 == .sendCloseNotifyAndClose)
        #expect(machine.state == .closing)
        #expect(machine.channelRead() == .ignore)
        let result4 = machine.channelInactive()
        #expect(result4 == .none)
        #expect(machine.state == .closed)
    }

    @Test func closeBeforeTheHandshakeEndsJustClosesTheChannel() {
        var machine = Machine()
        _ = machine.channelActive()
        let result5 = machine.closeRequested()
        #expect(result5 == .closeChannel)
        #expect(machine.state == .closed)
    }

    @Test func eofWithoutCloseNotifyIsUnclean() {
        var active = Machine()
        _ = active.channelActive()
        active.handshakeCompleted()
        let result6 = active.channelInactive()
        #expect(result6 == .reportUncleanShutdown(duringHandshake: false))

        var handshaking = Machine()
        _ = handshaking.channelActive()
        let result7 = handshaking.channelInactive()
        #expect(result7 == .reportUncleanShutdown(duringHandshake: true))
    }

    @Test func closeNotifyFromThePeerIsAnsweredOnce() {
        var machine = Machine()
        _ = machine.channelActive()
        machine.handshakeCompleted()
        let result8 = machine.closeNotifyReceived()
        #expect(result8)
        let result9 = machine.closeNotifyReceived()
        #expect(!result9)
        let result10 = machine.channelInactive()
        #expect(result10 == .none)
    }

    @Test func failureClosesForGood() {
        var machine = Machine()
        _ = machine.channelActive()
        machine.failed()
        #expect(machine.state == .closed)
        #expect(machine.channelRead() == .ignore)
        let result11 = machine.channelInactive()
        #expect(result11 == .none)
        let result12 = machine.channelActive()
        #expect(!result12)
    }
}
