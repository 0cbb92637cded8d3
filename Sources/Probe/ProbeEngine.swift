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
    /// The requests one `performAll` call handed over, answered together: one continuation per
    /// batch, not per request, so a diagnosis round costs one wake-up of its task. Its results are
    /// written on the engine thread only.
    private final class Batch {
        let id: UInt64
        let continuation: CheckedContinuation<[ProbeResult], Never>
        var results: [ProbeResult?]
        var remaining: Int

        init(id: UInt64, count: Int, continuation: CheckedContinuation<[ProbeResult], Never>) {
            self.id = id
            self.continuation = continuation
            results = Array(repeating: nil, count: count)
            remaining = count
        }

        /// Records one answer; the last one resumes the waiting task.
        func answer(_ slot: Int, _ result: ProbeResult) {
            guard results[slot] == nil else { return }
            results[slot] = result
            remaining -= 1
            if remaining == 0 { continuation.resume(returning: results.map { $0! }) }
        }
    }

    /// A request waiting to start, and the batch waiting for its result.
    private struct Submission {
        var batch: Batch
        var slot: Int
        var request: ProbeRequest
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
        guard CurlGlobal.initialized, let multi = ccurl_multi_init() else { return nil }
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
        ccurl_multi_cleanup(multi)
    }

    /// Ends the engine thread; transfers still running answer CURLE_ABORTED_BY_CALLBACK. Idempotent.
    public func shutdown() {
        lock.lock()
        let first = !stopping && thread != nil
        stopping = true
        lock.unlock()
        guard first else { return }
        ccurl_multi_wakeup(multi)
        finished.wait()
        lock.lock()
        thread = nil
        lock.unlock()
    }

    public func perform(_ request: ProbeRequest) async -> ProbeResult {
        await performAll([request])[0]
    }

    /// Runs the requests concurrently (each with its own timeouts) and answers when the last ends.
    /// A cancelled task's transfers are removed at once and answer CURLE_ABORTED_BY_CALLBACK.
    public func performAll(_ requests: [ProbeRequest]) async -> [ProbeResult] {
        if requests.isEmpty { return [] }
        let id: UInt64 = lock.withLock {
            defer { nextID += 1 }
            return nextID
        }
        let results = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[ProbeResult], Never>) in
                let batch = Batch(id: id, count: requests.count, continuation: continuation)
                lock.lock()
                if stopping || Task.isCancelled {
                    lock.unlock()
                    continuation.resume(returning: requests.map {
                        Transfer.notRun($0, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue), message: "cancelled before start")
                    })
                    return
                }
                for (slot, request) in requests.enumerated() {
                    submitted.append(Submission(batch: batch, slot: slot, request: request))
                }
                let wake = sleeping
                lock.unlock()
                // A busy engine picks the submission up on its next turn; waking it costs two syscalls.
                if wake { ccurl_multi_wakeup(multi) }
            }
        } onCancel: {
            lock.withLock { _ = cancelled.insert(id) }
            ccurl_multi_wakeup(multi)
        }
        guard evidenceLines else { return results }
        // Transfers that ran end without their evidence lines (the engine thread only transfers).
        return results.map { result in
            let ran = result.log.isEmpty || result.log.first?.hasPrefix("response broke off") == true
            return ran ? result.completingLog() : result
        }
    }

    // MARK: the engine thread

    private struct Running {
        var transfer: Transfer
        var batch: Batch
        var slot: Int
    }

    private func loop() {
        var idle: [Transfer] = []
        var active: [UnsafeMutableRawPointer: Running] = [:]
        var pending: [Submission] = []
        var toCancel: Set<UInt64> = []
        let aborted = Int(CURLE_ABORTED_BY_CALLBACK.rawValue)

        func end(_ handle: UnsafeMutableRawPointer, _ result: (Transfer) -> ProbeResult) {
            guard let entry = active.removeValue(forKey: handle) else { return }
            let outcome = result(entry.transfer)
            ccurl_multi_remove_handle(multi, handle)
            if idle.count < idleLimit { idle.append(entry.transfer) }
            entry.batch.answer(entry.slot, outcome)
        }

        while true {
            lock.lock()
            let stop = stopping
            pending.append(contentsOf: submitted)
            submitted.removeAll(keepingCapacity: true)
            toCancel.formUnion(cancelled)
            cancelled.removeAll(keepingCapacity: true)
            lock.unlock()

            // Cancelled batches: requests not started answer at once, running ones are removed.
            if !toCancel.isEmpty {
                var seen: Set<UInt64> = []
                for (handle, entry) in active where toCancel.contains(entry.batch.id) {
                    seen.insert(entry.batch.id)
                    end(handle) { Transfer.notRun($0.request, code: aborted, message: "cancelled") }
                }
                pending.removeAll { submission in
                    guard toCancel.contains(submission.batch.id) else { return false }
                    seen.insert(submission.batch.id)
                    submission.batch.answer(submission.slot, Transfer.notRun(submission.request, code: aborted, message: "cancelled before start"))
                    return true
                }
                // A batch all of whose transfers ended is forgotten; one whose submission has not
                // arrived yet is kept a while (an id that never shows up must not pile up forever).
                toCancel.subtract(seen)
                if toCancel.count > 10_000 { toCancel = [] }
            }

            if stop {
                for handle in Array(active.keys) {
                    end(handle) { Transfer.notRun($0.request, code: aborted, message: "engine stopped") }
                }
                for submission in pending {
                    submission.batch.answer(submission.slot, Transfer.notRun(submission.request, code: aborted, message: "engine stopped"))
                }
                finished.signal()
                return
            }

            var startedCount = 0
            for submission in pending {
                if active.count >= maxTransfers { break }
                startedCount += 1
                guard let transfer = idle.popLast() ?? Transfer() else {
                    submission.batch.answer(submission.slot, Transfer.notRun(
                        submission.request, code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed"))
                    continue
                }
                transfer.prepare(submission.request, cancel: nil)
                if let error = transfer.setupError {
                    idle.append(transfer)
                    submission.batch.answer(submission.slot, Transfer.notRun(
                        submission.request, code: Int(error.rawValue), message: String(cString: ccurl_easy_strerror(error))))
                    continue
                }
                let added = ccurl_multi_add_handle(multi, transfer.handle)
                if added != CURLM_OK {
                    idle.append(transfer)
                    submission.batch.answer(submission.slot, Transfer.notRun(
                        submission.request, code: Int(CURLE_FAILED_INIT.rawValue), message: String(cString: ccurl_multi_strerror(added))))
                    continue
                }
                active[transfer.handle] = Running(transfer: transfer, batch: submission.batch, slot: submission.slot)
            }
            pending.removeFirst(startedCount)

            var running: Int32 = 0
            let performed = ccurl_multi_perform(multi, &running)
            if performed != CURLM_OK {
                let message = String(cString: ccurl_multi_strerror(performed))
                for handle in Array(active.keys) {
                    end(handle) { Transfer.notRun($0.request, code: Int(CURLE_UNRECOVERABLE_POLL.rawValue), message: message) }
                }
            }
            var queued: Int32 = 0
            while let message = ccurl_multi_info_read(multi, &queued) {
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
            if wait { _ = ccurl_multi_poll(multi, nil, 0, 1000, nil) }
            lock.withLock { sleeping = false }
        }
    }
}
