import Foundation
// ConnectionLimits lives there (the CLI validates serve's flags without linking this module).
@_exported import LinkServerSettings
import NIOCore
import NIOHTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The count of open connections, shared by every connection's guard, and which of them wait
/// without a request in progress (the ones a new connection may take the place of).
final class ConnectionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var open = 0
    private var waiting: [ObjectIdentifier: (channel: any Channel, since: UInt64)] = [:]
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Takes a place; at the cap, the longest-waiting idle connection is closed to make room.
    /// False when every place is busy with a request (the caller closes its connection).
    func enter() -> Bool {
        lock.lock()
        if open < limit {
            open += 1
            lock.unlock()
            return true
        }
        guard let victim = waiting.min(by: { $0.value.since < $1.value.since }) else {
            lock.unlock()
            return false
        }
        waiting.removeValue(forKey: victim.key)
        // The victim still counts until its close is seen (`leave`): briefly one over the cap.
        open += 1
        lock.unlock()
        victim.value.channel.close(promise: nil)
        return true
    }

    /// The connection has no request in progress (just opened, or answered).
    func waitingForRequest(_ id: ObjectIdentifier, channel: any Channel) {
        lock.lock()
        waiting[id] = (channel, DispatchTime.now().uptimeNanoseconds)
        lock.unlock()
    }

    /// A request head arrived: the connection is busy until it is answered.
    func busy(_ id: ObjectIdentifier) {
        lock.lock()
        waiting.removeValue(forKey: id)
        lock.unlock()
    }

    func leave(_ id: ObjectIdentifier) {
        lock.lock()
        waiting.removeValue(forKey: id)
        open -= 1
        lock.unlock()
    }

    var current: Int {
        lock.lock()
        defer { lock.unlock() }
        return open
    }
}

/// One per connection, after HTTP decoding: counts the connection against the cap, closes it when
/// no complete request head arrives within `idleTimeout` (from its start or the previous answer's
/// end), or when the body does not follow within `bodyTimeout`.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counter: ConnectionCounter
    private let idleTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private var counted = false
    private var readingRequest = false
    private var deadline: Scheduled<Void>?

    init(counter: ConnectionCounter, limits: ConnectionLimits) {
        self.counter = counter
        self.idleTimeout = .nanoseconds(Int64(limits.idleTimeout * 1e9))
        self.bodyTimeout = .nanoseconds(Int64(limits.bodyTimeout * 1e9))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        guard counter.enter() else {
            context.close(promise: nil)
            return
        }
        counted = true
        counter.waitingForRequest(ObjectIdentifier(self), channel: context.channel)
        armDeadline(context, in: idleTimeout)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        deadline?.cancel()
        deadline = nil
        if counted {
            counted = false
            counter.leave(ObjectIdentifier(self))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            readingRequest = true
            counter.busy(ObjectIdentifier(self))
            armDeadline(context, in: bodyTimeout)
        case .body:
            break
        case .end:
            // The whole request is in: the time to answer is the handler's, not the client's.
            readingRequest = false
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), !readingRequest {
            // The next request (keep-alive) has its own time, from now.
            context.write(data, promise: promise)
            if counted { counter.waitingForRequest(ObjectIdentifier(self), channel: context.channel) }
            armDeadline(context, in: idleTimeout)
            return
        }
        context.write(data, promise: promise)
    }

    private func armDeadline(_ context: ChannelHandlerContext, in time: TimeAmount) {
        deadline?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: time) {
            // Still waiting for a request to be complete: the client is too slow.
            loopBound.value.close(promise: nil)
        }
    }
}
