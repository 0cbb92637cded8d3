import CCurl
import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Something that runs a batch of probes concurrently and returns the results in input order.
/// `Prober` does it with a fresh multi handle per batch (one `diagnose`); `ProbeEngine` shares one
/// long-lived multi handle between many diagnoses (`check` over thousands of connections).
public protocol ProbeTransport: Sendable {
    func performAll(_ requests: [ProbeRequest]) async -> [ProbeResult]
}

extension Prober: ProbeTransport {
    public func performAll(_ requests: [ProbeRequest]) async -> [ProbeResult] {
        await performAll(requests, maxConcurrent: max(1, requests.count))
    }
}

/// One libcurl multi handle on one dedicated thread, fed by any number of tasks.
///
/// Like `curl --parallel`, every transfer shares the handle's connection and DNS caches, so
/// thousands of probes against a few hosts reuse a few dozen keep-alive connections instead of
/// opening one each. Tasks submit requests from any thread; `curl_multi_wakeup` interrupts the
/// engine's poll so a new request starts at once. Each request keeps its own connect and total
/// timeout (libcurl enforces them per transfer), so a hung host costs only its own transfers
/// their timeout; the others go on. A cancelled task's transfers are removed at once and answer
/// CURLE_ABORTED_BY_CALLBACK (42).
public final class ProbeEngine: ProbeTransport, @unchecked Sendable {
    /// A request waiting to start, and who waits for its result.
    private struct Submission {
        var id: UInt64
        var request: ProbeRequest
        var continuation: CheckedContinuation<ProbeResult, Never>
    }

    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var submitted: [Submission] = []
    private var cancelled: Set<UInt64> = []
    private var nextID: UInt64 = 1
    private var stopping = false
    /// The engine thread is (about to be) asleep in curl_multi_poll: a submission must wake it.
    private var sleeping = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Idle easy handles kept for reuse (curl_easy_reset keeps their buffers).
    private let idleLimit: Int
    /// Transfers running at once; later requests wait their turn (like `curl --parallel-max`).
    private let maxTransfers: Int
    /// Whether results carry `log` (the evidence lines); a diagnosis does not read them.
    private let evidenceLines: Bool

    /// - Parameters:
    ///   - connections: idle connections kept open for reuse (CURLMOPT_MAXCONNECTS).
    ///   - maxTransfers: transfers running at once; more wait in line. A request's timeouts start
    ///     when its transfer starts, so waiting in line never times a probe out.
    ///   - evidenceLines: fill each result's `log` (built by the awaiting task, not the engine thread).
    public init?(connections: Int = 64, maxTransfers: Int = 256, evidenceLines: Bool = true) {
        _ = CurlGlobal.initialized
        guard let multi = curl_multi_init() else { return nil }
        self.multi = multi
        idleLimit = max(8, connections)
        self.maxTransfers = max(1, maxTransfers)
        self.evidenceLines = evidenceLines
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(8, connections))
        // unowned(unsafe): the thread ends (shutdown) before the engine is freed.
        let thread = Thread { [unowned(unsafe) self] in self.loop() }
        thread.name = "authdoctor-probe-engine"
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    deinit {
        shutdown()
        curl_multi_cleanup(multi)
    }

    /// Ends the engine thread; transfers still running answer CURLE_ABORTED_BY_CALLBACK. Idempotent.
    public func shutdown() {
        lock.lock()
        let first = !stopping && thread != nil
        stopping = true
        lock.unlock()
        guard first else { return }
        curl_multi_wakeup(multi)
        finished.wait()
        lock.lock()
        thread = nil
        lock.unlock()
    }

    public func perform(_ request: ProbeRequest) async -> ProbeResult {
        let id: UInt64 = lock.withLock {
            defer { nextID += 1 }
            return nextID
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ProbeResult, Never>) in
                lock.lock()
                if stopping || Task.isCancelled {
                    lock.unlock()
                    continuation.resume(returning: Transfer.notRun(request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue),
                                                                   message: "cancelled before start"))
                    return
                }
                submitted.append(Submission(id: id, request: request, continuation: continuation))
                let wake = sleeping
                lock.unlock()
                // A busy engine picks the submission up on its next turn; waking it costs two syscalls.
                if wake { curl_multi_wakeup(multi) }
            }
        } onCancel: {
            lock.withLock { _ = cancelled.insert(id) }
            curl_multi_wakeup(multi)
        }
        // Transfers that ran end without their evidence lines (the engine thread only transfers).
        let ran = result.log.isEmpty || result.log.first?.hasPrefix("response broke off") == true
        return ran && evidenceLines ? result.completingLog() : result
    }

    public func performAll(_ requests: [ProbeRequest]) async -> [ProbeResult] {
        if requests.count == 1 { return [await perform(requests[0])] }
        return await withTaskGroup(of: (Int, ProbeResult).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask { (index, await self.perform(request)) }
            }
            var results = [ProbeResult?](repeating: nil, count: requests.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }

    // MARK: the engine thread

    private struct Running {
        var id: UInt64
        var transfer: Transfer
        var continuation: CheckedContinuation<ProbeResult, Never>
    }

    private func loop() {
        var idle: [Transfer] = []
        var active: [UnsafeMutableRawPointer: Running] = [:]
        var ids: [UInt64: UnsafeMutableRawPointer] = [:]
        var pending: [Submission] = []
        var toCancel: Set<UInt64> = []

        func end(_ handle: UnsafeMutableRawPointer, _ result: (Transfer) -> ProbeResult) {
            guard let entry = active.removeValue(forKey: handle) else { return }
            ids[entry.id] = nil
            let outcome = result(entry.transfer)
            curl_multi_remove_handle(multi, handle)
            if idle.count < idleLimit { idle.append(entry.transfer) }
            entry.continuation.resume(returning: outcome)
        }

        while true {
            lock.lock()
            let stop = stopping
            pending.append(contentsOf: submitted)
            submitted.removeAll(keepingCapacity: true)
            toCancel.formUnion(cancelled)
            cancelled.removeAll(keepingCapacity: true)
            lock.unlock()

            // Cancelled requests: those not started answer at once, running ones are removed.
            if !toCancel.isEmpty {
                var stillUnknown: Set<UInt64> = []
                for id in toCancel {
                    if let handle = ids[id] {
                        end(handle) { Transfer.notRun($0.request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "cancelled") }
                    } else if let at = pending.firstIndex(where: { $0.id == id }) {
                        let submission = pending.remove(at: at)
                        submission.continuation.resume(returning: Transfer.notRun(
                            submission.request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "cancelled before start"))
                    } else {
                        // Cancelled before its submission arrived (or after it ended): keep it a while.
                        stillUnknown.insert(id)
                    }
                }
                // An id that never shows up again must not pile up forever.
                toCancel = stillUnknown.count > 10_000 ? [] : stillUnknown
            }

            if stop {
                for handle in Array(active.keys) {
                    end(handle) { Transfer.notRun($0.request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "engine stopped") }
                }
                for submission in pending {
                    submission.continuation.resume(returning: Transfer.notRun(
                        submission.request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "engine stopped"))
                }
                finished.signal()
                return
            }

            var startedCount = 0
            for submission in pending {
                if active.count >= maxTransfers { break }
                startedCount += 1
                if toCancel.remove(submission.id) != nil {
                    submission.continuation.resume(returning: Transfer.notRun(
                        submission.request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "cancelled before start"))
                    continue
                }
                guard let transfer = idle.popLast() ?? Transfer() else {
                    submission.continuation.resume(returning: Transfer.notRun(
                        submission.request, code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed"))
                    continue
                }
                transfer.prepare(submission.request, cancel: nil)
                if let error = transfer.setupError {
                    idle.append(transfer)
                    submission.continuation.resume(returning: Transfer.notRun(
                        submission.request, code: Int(error.rawValue), message: String(cString: curl_easy_strerror(error))))
                    continue
                }
                let added = curl_multi_add_handle(multi, transfer.handle)
                if added != CURLM_OK {
                    idle.append(transfer)
                    submission.continuation.resume(returning: Transfer.notRun(
                        submission.request, code: Int(CURLE_FAILED_INIT.rawValue), message: String(cString: curl_multi_strerror(added))))
                    continue
                }
                active[transfer.handle] = Running(id: submission.id, transfer: transfer, continuation: submission.continuation)
                ids[submission.id] = transfer.handle
            }
            pending.removeFirst(startedCount)

            var running: Int32 = 0
            let performed = curl_multi_perform(multi, &running)
            if performed != CURLM_OK {
                let message = String(cString: curl_multi_strerror(performed))
                for handle in Array(active.keys) {
                    end(handle) { Transfer.notRun($0.request, code: Int(CURLE_UNRECOVERABLE_POLL.rawValue), message: message) }
                }
            }
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                end(easy) { $0.finish(code: code, withLog: false) }
            }
            // Sleep until socket activity, a libcurl timer, or a wake-up (new work, cancel, stop).
            // Not when requests wait and a slot is free, nor when new work came in meanwhile.
            lock.lock()
            let newWork = !submitted.isEmpty || !cancelled.isEmpty || stopping
            let canStart = !pending.isEmpty && active.count < maxTransfers
            let wait = !canStart && (!newWork || !pending.isEmpty)
            sleeping = wait
            lock.unlock()
            if wait { _ = curl_multi_poll(multi, nil, 0, 1000, nil) }
            lock.withLock { sleeping = false }
        }
    }
}
