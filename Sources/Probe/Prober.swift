import CCurl
import EvidenceModel
import Foundation

/// Runs HTTP probes through libcurl. Stateless and thread-safe: every call uses its own handles.
///
/// - `perform` uses the easy interface on a fresh handle, so its connection is new and the
///   DNS/connect/TLS timings are real.
/// - `performAll` uses one multi handle: at most `maxConcurrent` transfers run at once, a finished
///   transfer's easy handle is reset and reused for the next request, and all transfers share the
///   multi handle's connection and DNS caches (so repeated hosts reuse connections).
/// - The `async` variants run that blocking work on a dedicated thread (never on the cooperative
///   pool) and abort the transfers (CURLE_ABORTED_BY_CALLBACK, 42) when the task is cancelled.
public final class Prober: Sendable {
    public init() {
        _ = CurlGlobal.initialized
    }

    /// The libcurl version string, e.g. "libcurl/7.88.1 OpenSSL/3.0.19 zlib/1.2.13 ...".
    public static var libcurlVersion: String { Libcurl.problem == nil ? String(cString: ccurl_version()) : "libcurl not loaded" }

    // MARK: blocking

    public func perform(_ request: ProbeRequest) -> ProbeResult {
        Self.runEasy(request, cancel: nil)
    }

    /// Runs all requests with at most `maxConcurrent` (≥ 1) in flight; results are in input order.
    public func performAll(_ requests: [ProbeRequest], maxConcurrent: Int) -> [ProbeResult] {
        MultiRunner.run(requests, maxConcurrent: maxConcurrent, cancel: nil)
    }

    // MARK: async

    public func perform(_ request: ProbeRequest) async -> ProbeResult {
        let flag = CancellationFlag()
        return await withTaskCancellationHandler {
            await Self.onThread { Self.runEasy(request, cancel: flag) }
        } onCancel: {
            flag.cancel()
        }
    }

    public func performAll(_ requests: [ProbeRequest], maxConcurrent: Int) async -> [ProbeResult] {
        let flag = CancellationFlag()
        return await withTaskCancellationHandler {
            await Self.onThread { MultiRunner.run(requests, maxConcurrent: maxConcurrent, cancel: flag) }
        } onCancel: {
            flag.cancel()
        }
    }

    // MARK: internals

    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.name = "authdoctor-probe"
            thread.start()
        }
    }

    static func runEasy(_ request: ProbeRequest, cancel: CancellationFlag?) -> ProbeResult {
        if cancel?.isCancelled == true {
            return Transfer.notRun(request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue),
                                   message: "cancelled before start")
        }
        guard let transfer = Transfer() else {
            return Transfer.notRun(request, code: Int(CURLE_FAILED_INIT.rawValue), message: Libcurl.problem ?? "curl_easy_init failed")
        }
        transfer.prepare(request, cancel: cancel)
        if let error = transfer.setupError {
            return Transfer.notRun(request, code: Int(error.rawValue), message: String(cString: ccurl_easy_strerror(error)))
        }
        let code = ccurl_easy_perform(transfer.handle)
        return transfer.finish(code: code)
    }
}

/// The multi-interface loop behind `performAll`.
enum MultiRunner {
    static func run(_ requests: [ProbeRequest], maxConcurrent: Int, cancel: CancellationFlag?) -> [ProbeResult] {
        if requests.isEmpty { return [] }
        var results = [ProbeResult?](repeating: nil, count: requests.count)
        guard CurlGlobal.initialized, let multi = ccurl_multi_init() else {
            let message = Libcurl.problem ?? "curl_multi_init failed"
            return requests.map { Transfer.notRun($0, code: Int(CURLE_FAILED_INIT.rawValue), message: message) }
        }
        defer { ccurl_multi_cleanup(multi) }
        let limit = max(1, min(maxConcurrent, requests.count))
        // Keep enough idle connections around for every concurrent transfer to find its own.
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(limit, 8))

        var idle: [Transfer] = []
        var active: [UnsafeMutableRawPointer: (index: Int, transfer: Transfer)] = [:]
        var next = 0

        while next < requests.count || !active.isEmpty {
            // Start new transfers up to the limit.
            while active.count < limit && next < requests.count {
                let index = next
                next += 1
                let request = requests[index]
                if cancel?.isCancelled == true {
                    results[index] = Transfer.notRun(request, code: Int(CURLE_ABORTED_BY_CALLBACK.rawValue),
                                                     message: "cancelled before start")
                    continue
                }
                guard let transfer = idle.popLast() ?? Transfer() else {
                    results[index] = Transfer.notRun(request, code: Int(CURLE_FAILED_INIT.rawValue),
                                                     message: "curl_easy_init failed")
                    continue
                }
                transfer.prepare(request, cancel: cancel)
                if let error = transfer.setupError {
                    results[index] = Transfer.notRun(request, code: Int(error.rawValue),
                                                     message: String(cString: ccurl_easy_strerror(error)))
                    idle.append(transfer)
                    continue
                }
                let added = ccurl_multi_add_handle(multi, transfer.handle)
                if added != CURLM_OK {
                    results[index] = Transfer.notRun(request, code: Int(CURLE_FAILED_INIT.rawValue),
                                                     message: String(cString: ccurl_multi_strerror(added)))
                    idle.append(transfer)
                    continue
                }
                active[transfer.handle] = (index, transfer)
            }
            if active.isEmpty { continue }

            var running: Int32 = 0
            let performed = ccurl_multi_perform(multi, &running)
            if performed != CURLM_OK {
                // The multi handle is broken: fail whatever is still in flight.
                let message = String(cString: ccurl_multi_strerror(performed))
                for (_, entry) in active {
                    ccurl_multi_remove_handle(multi, entry.transfer.handle)
                    results[entry.index] = Transfer.notRun(entry.transfer.request,
                                                           code: Int(CURLE_UNRECOVERABLE_POLL.rawValue), message: message)
                }
                active.removeAll()
                continue
            }

            // Collect finished transfers.
            var queued: Int32 = 0
            var finishedAny = false
            while let message = ccurl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let entry = active.removeValue(forKey: easy) else { continue }
                let code = message.pointee.data.result
                results[entry.index] = entry.transfer.finish(code: code)
                ccurl_multi_remove_handle(multi, easy)
                idle.append(entry.transfer)
                finishedAny = true
            }

            if !finishedAny && running > 0 {
                // Sleep until there is socket activity or a libcurl timeout is due (max 100 ms,
                // so cancellation and new work are noticed promptly).
                _ = ccurl_multi_poll(multi, nil, 0, 100, nil)
            }
        }
        return results.enumerated().map { index, result in
            result ?? Transfer.notRun(requests[index], code: Int(CURLE_FAILED_INIT.rawValue), message: "not run")
        }
    }
}
