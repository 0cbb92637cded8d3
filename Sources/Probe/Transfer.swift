import CCurl
import Dispatch
import EvidenceModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process-wide libcurl setup, done once (Swift runs static initialisers exactly once, thread-safely).
enum CurlGlobal {
    static let initialized: Bool = {
        // libcurl with CURLOPT_NOSIGNAL does not guard SIGPIPE itself; a peer closing a TLS socket
        // must not kill the process, so ignore SIGPIPE (writes then fail with EPIPE instead).
        signal(SIGPIPE, SIG_IGN)
        _ = OpenSSLExitHandler.suppressed
        guard ccurl_load() == 1 else { return false }
        return ccurl_global_init(ccurl_global_all()) == CURLE_OK
    }()
}

/// libcurl is loaded when the first probe needs it, not at start: the commands that never probe
/// start without it and its dependencies. A missing libcurl is a clear error, not a loader failure.
public enum Libcurl {
    /// Why probes cannot run in this process, or nil when they can. Loads libcurl on first ask.
    public static var problem: String? {
        if CurlGlobal.initialized { return nil }
        if let reason = ccurl_load_error() {
            return "libcurl could not be loaded (\(String(cString: reason))): install it (Debian: apt-get install libcurl4) "
                + "or name the library file in AUTHDOCTOR_LIBCURL"
        }
        return "libcurl could not be initialised (curl_global_init failed)"
    }

    /// Starts loading libcurl on another thread (the loader maps it and its TLS libraries: a
    /// millisecond or more) while the caller reads its provider file and rules; `problem` and
    /// `requireLoaded` then wait for it to end, if it has not.
    public static func loadInBackground() {
        DispatchQueue.global(qos: .userInitiated).async { _ = CurlGlobal.initialized }
    }

    /// Throws `problem` as an EX_UNAVAILABLE error; call before the first probe of a command.
    public static func requireLoaded() throws {
        if let problem { throw InputError(.unavailable, problem) }
    }
}

/// OpenSSL's exit handler, which this process goes without: it frees every thread's OpenSSL state
/// while threads that used OpenSSL may still be ending (a double free at exit, seen in `check`).
public enum OpenSSLExitHandler {
    /// Done once, before anything else initialises OpenSSL: the entry point asks for it first thing,
    /// and libcurl's set-up asks again for processes (tests) that start elsewhere.
    public static let suppressed: Bool = ccurl_openssl_without_exit_handler() == 1
}

/// Set by `Task` cancellation; checked by libcurl's progress callback, which then aborts the transfer.
final class CancellationFlag: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var value = false

    init() { pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }

    func cancel() {
        pthread_mutex_lock(&lock)
        value = true
        pthread_mutex_unlock(&lock)
    }

    var isCancelled: Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return value
    }
}

/// One response seen by the header callback (status line + headers).
struct ResponseBlock {
    var status: Int
    var httpVersion: String?
    var url: String
    var headers: [HTTPHeader] = []
    /// The blank line ending the header section arrived (else the response broke off mid-headers).
    var complete = false
}

/// One easy handle and the state of the transfer running on it. Confined to one thread at a time;
/// reusable for several transfers (`prepare` calls curl_easy_reset).
final class Transfer {
    let handle: UnsafeMutableRawPointer
    private(set) var request = ProbeRequest(url: "")
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var resolveList: UnsafeMutablePointer<curl_slist>?
    private var cancel: CancellationFlag?

    private var blocks: [ResponseBlock] = []
    private var body: [UInt8] = []
    private var bodyBytesReceived = 0
    private var bodyTruncated = false
    /// A setopt that failed while preparing (the transfer is then not run).
    private(set) var setupError: CURLcode?

    init?() {
        guard CurlGlobal.initialized, let handle = ccurl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        ccurl_easy_cleanup(handle)
        freeLists()
        errorBuffer.deallocate()
    }

    private func freeLists() {
        if let headerList { ccurl_slist_free_all(headerList) }
        if let resolveList { ccurl_slist_free_all(resolveList) }
        headerList = nil
        resolveList = nil
    }

    // MARK: setup

    /// Resets the handle and sets every option for `request`. Check `setupError` afterwards.
    func prepare(_ request: ProbeRequest, cancel: CancellationFlag?) {
        ccurl_easy_reset(handle)
        freeLists()
        self.request = request
        self.cancel = cancel
        blocks = []
        body = []
        bodyBytesReceived = 0
        bodyTruncated = false
        setupError = nil
        errorBuffer[0] = 0

        let me = Unmanaged.passUnretained(self).toOpaque()
        let connectMs = Self.milliseconds(request.connectTimeout)
        let totalMs = Self.milliseconds(request.totalTimeout)

        setLong(CURLOPT_NOSIGNAL, 1)
        setString(CURLOPT_URL, request.url)
        setString(CURLOPT_PROTOCOLS_STR, "http,https")
        setString(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        setLong(CURLOPT_CONNECTTIMEOUT_MS, connectMs)
        setLong(CURLOPT_TIMEOUT_MS, totalMs)
        // TLS verification: always on, never configurable.
        setLong(CURLOPT_SSL_VERIFYPEER, 1)
        setLong(CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = request.caBundlePath { setString(CURLOPT_CAINFO, ca) }
        // No implicit proxy: "" disables proxies even when http_proxy/ALL_PROXY are set.
        setString(CURLOPT_PROXY, "")
        setString(CURLOPT_ACCEPT_ENCODING, "")
        setString(CURLOPT_USERAGENT, "authdoctor-probe/1")
        check(ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer)))

        setLong(CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0)
        setLong(CURLOPT_MAXREDIRS, max(0, request.maxRedirects))

        // Method and body. The body is copied by libcurl; the size is set first so binary data works.
        // Methods are upper case already, almost always: no copy then.
        let method = request.method.utf8.contains(where: { $0 &- 0x61 < 26 }) ? request.method.uppercased() : request.method
        if method == "HEAD" {
            setLong(CURLOPT_NOBODY, 1)
        } else {
            if let body = request.body {
                check(ccurl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
                body.withUnsafeBytes { raw in
                    let empty: UInt8 = 0
                    if let base = raw.baseAddress {
                        check(ccurl_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base)))
                    } else {
                        withUnsafePointer(to: empty) { p in
                            check(ccurl_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: p)))
                        }
                    }
                }
            } else if method == "POST" {
                // POST without a body: send "Content-Length: 0" (never read stdin).
                check(ccurl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, 0))
                setString(CURLOPT_COPYPOSTFIELDS, "")
            }
            let isDefault = (method == "GET" && request.body == nil) || method == "POST"
            if !isDefault { setString(CURLOPT_CUSTOMREQUEST, request.method) }
        }

        // Headers. An empty value must be written "Name;" for libcurl (a bare "Name:" removes it).
        var list: UnsafeMutablePointer<curl_slist>?
        var hasExpect = false
        for header in request.headers {
            if header.name.fastLowercased() == "expect" { hasExpect = true }
            let line = header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)"
            list = ccurl_slist_append(list, line)
        }
        if !hasExpect { list = ccurl_slist_append(list, "Expect:") }  // no 100-continue wait
        headerList = list
        if let list { check(ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, list)) }

        var resolve: UnsafeMutablePointer<curl_slist>?
        for entry in request.resolve { resolve = ccurl_slist_append(resolve, entry) }
        resolveList = resolve
        if let resolve { check(ccurl_easy_setopt_slist(handle, CURLOPT_RESOLVE, resolve)) }

        check(ccurl_easy_setopt_write_function(handle, transferWriteCallback))
        check(ccurl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, me))
        check(ccurl_easy_setopt_header_function(handle, transferHeaderCallback))
        check(ccurl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, me))
        if cancel != nil {
            check(ccurl_easy_setopt_xferinfo_function(handle, transferProgressCallback))
            check(ccurl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, me))
            setLong(CURLOPT_NOPROGRESS, 0)
        }
    }

    /// Whether a URL's scheme is https (any case), read on bytes.
    static func isHTTPS(_ url: String) -> Bool {
        url.utf8.prefix(8).lazy.map(\.asciiLowercased).elementsEqual("https://".utf8)
    }

    static func milliseconds(_ seconds: Double) -> Int {
        guard seconds.isFinite, seconds > 0 else { return 1 }
        return max(1, min(Int((seconds * 1000).rounded(.up)), 24 * 3600 * 1000))
    }

    private func check(_ code: CURLcode) {
        if code != CURLE_OK, setupError == nil { setupError = code }
    }

    private func setLong(_ option: CURLoption, _ value: Int) {
        check(ccurl_easy_setopt_long(handle, option, value))
    }

    private func setString(_ option: CURLoption, _ value: String) {
        check(ccurl_easy_setopt_string(handle, option, value))
    }

    // MARK: callbacks

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) {
        bodyBytesReceived += bytes.count
        let room = max(0, request.maxBodyBytes - body.count)
        // As typed bytes: appending a raw buffer goes byte by byte, a typed one is one copy.
        let kept = bytes.bindMemory(to: UInt8.self)
        if kept.count <= room {
            body.append(contentsOf: kept)
        } else {
            body.append(contentsOf: UnsafeBufferPointer(rebasing: kept[0..<room]))
            bodyTruncated = true
        }
    }

    fileprivate func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        // Strip CR/LF as bytes: in Swift "\r\n" is one Character, so String suffix checks miss it.
        var end = bytes.count
        while end > 0, bytes[end - 1] == 10 || bytes[end - 1] == 13 { end -= 1 }
        if end == 0 {
            // The blank line ends the current response's header section.
            if !blocks.isEmpty { blocks[blocks.count - 1].complete = true }
            return
        }
        let isStatusLine = end >= 5 && bytes[0] == 0x48 && bytes[1] == 0x54 && bytes[2] == 0x54 && bytes[3] == 0x50 && bytes[4] == 0x2F
        if !isStatusLine && !blocks.isEmpty && bytes[0] != 0x20 && bytes[0] != 0x09 {
            // "Name: value" on bytes (the common case, thousands of times a second in `check`).
            var colon = 0
            while colon < end && bytes[colon] != 0x3A { colon += 1 }
            guard colon < end else { return }
            var from = colon + 1
            var to = end
            while from < to && (bytes[from] == 0x20 || bytes[from] == 0x09) { from += 1 }
            while to > from && (bytes[to - 1] == 0x20 || bytes[to - 1] == 0x09) { to -= 1 }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<colon]), as: UTF8.self)
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
            blocks[blocks.count - 1].headers.append(HTTPHeader(name: name, value: value))
            return
        }
        if isStatusLine {
            // A new response starts: its body replaces whatever an earlier response delivered.
            // "HTTP/1.1 200 OK": the version after "HTTP/", the status as the second word (on bytes).
            var versionEnd = 5
            while versionEnd < end && bytes[versionEnd] != 0x20 { versionEnd += 1 }
            let version = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[5..<versionEnd]), as: UTF8.self)
            var codeStart = versionEnd
            while codeStart < end && bytes[codeStart] == 0x20 { codeStart += 1 }
            var codeEnd = codeStart
            while codeEnd < end && bytes[codeEnd] != 0x20 { codeEnd += 1 }
            var status = 0
            if codeEnd > codeStart && codeEnd - codeStart <= 9 {
                for i in codeStart..<codeEnd {
                    let digit = bytes[i] &- 0x30
                    guard digit < 10 else { status = 0; break }
                    status = status * 10 + Int(digit)
                }
            }
            blocks.append(ResponseBlock(status: status, httpVersion: version, url: currentURL() ?? request.url))
            body = []
            bodyBytesReceived = 0
            bodyTruncated = false
            return
        }
        guard !blocks.isEmpty else { return }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        // obsolete line folding: continue the previous header's value
        if let last = blocks[blocks.count - 1].headers.indices.last {
            blocks[blocks.count - 1].headers[last].value += " " + Self.trim(Substring(line))
        }
    }

    fileprivate var shouldAbort: Bool { cancel?.isCancelled ?? false }

    private static func trim(_ s: Substring) -> String {
        var s = s
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    // MARK: results

    private func currentURL() -> String? { infoString(CURLINFO_EFFECTIVE_URL) }

    private func infoString(_ info: CURLINFO) -> String? {
        var out: UnsafePointer<CChar>?
        guard ccurl_easy_getinfo_string(handle, info, &out) == CURLE_OK, let out else { return nil }
        let s = String(cString: out)
        return s.isEmpty ? nil : s
    }

    private func infoLong(_ info: CURLINFO) -> Int {
        var out = 0
        return ccurl_easy_getinfo_long(handle, info, &out) == CURLE_OK ? out : 0
    }

    private func infoSeconds(_ info: CURLINFO) -> Double {
        var out: curl_off_t = 0
        guard ccurl_easy_getinfo_off_t(handle, info, &out) == CURLE_OK else { return 0 }
        return max(0, Double(out) / 1_000_000)
    }

    /// Result for a transfer that was never run (setup failed or cancelled before start).
    static func notRun(_ request: ProbeRequest, code: Int, message: String) -> ProbeResult {
        ProbeResult(request: request, curlCode: code, curlMessage: message,
                    log: ["curl error \(code) (\(CurlCodes.name(code))): \(message)"])
    }

    /// Collects everything about the finished transfer. Call after curl_easy_perform or CURLMSG_DONE.
    /// - Parameter withLog: build the evidence lines now; `ProbeEngine` leaves them to the task
    ///   that awaits the result (`completingLog`), so its one libcurl thread only does transfers.
    func finish(code rawCode: CURLcode, withLog: Bool = true) -> ProbeResult {
        let code = Int(rawCode.rawValue)
        let errorText = String(cString: errorBuffer).trimmingTrailingNewlines()
        let message = code == 0 ? "" : (errorText.isEmpty ? String(cString: ccurl_easy_strerror(rawCode)) : errorText)

        // Only responses whose header section completed count; 1xx interim responses are skipped.
        // When the last response broke off inside its headers there is no final response: status
        // is nil and every complete response before it is a hop.
        let responses = blocks.filter { $0.complete && !(100..<200).contains($0.status) }
        let brokenOff = blocks.last.flatMap { $0.complete ? nil : $0 }
        let final = brokenOff == nil ? responses.last : nil
        let hops = (final == nil ? responses[...] : responses.dropLast()).map { block in
            RedirectHop(status: block.status, url: block.url,
                        location: block.headers.first { $0.name.fastLowercased() == "location" }?.value)
        }

        let timings = PhaseTimings(
            dnsSeconds: infoSeconds(CURLINFO_NAMELOOKUP_TIME_T),
            connectSeconds: infoSeconds(CURLINFO_CONNECT_TIME_T),
            tlsSeconds: infoSeconds(CURLINFO_APPCONNECT_TIME_T),
            firstByteSeconds: infoSeconds(CURLINFO_STARTTRANSFER_TIME_T),
            totalSeconds: infoSeconds(CURLINFO_TOTAL_TIME_T),
            redirectSeconds: infoSeconds(CURLINFO_REDIRECT_TIME_T))

        let effectiveURL = infoString(CURLINFO_EFFECTIVE_URL)
        let primaryIP = infoString(CURLINFO_PRIMARY_IP)
        let port = infoLong(CURLINFO_PRIMARY_PORT)
        let newConnections = infoLong(CURLINFO_NUM_CONNECTS)
        let verifyResult = infoLong(CURLINFO_SSL_VERIFYRESULT)
        let redirectURL = infoString(CURLINFO_REDIRECT_URL)

        let tlsUsed = Self.isHTTPS(effectiveURL ?? request.url)
        let tlsFailed = CurlCodes.transportError(code) == "tls"
        let tls = TLSInfo(
            used: tlsUsed,
            verifyResult: verifyResult,
            verified: tlsUsed && !tlsFailed && verifyResult == 0 && (final != nil || timings.tlsSeconds > 0),
            failure: tlsFailed ? message : nil)

        var result = ProbeResult(
            request: request,
            status: final?.status,
            httpVersion: final?.httpVersion,
            headers: final?.headers ?? [],
            body: final == nil ? [] : body,
            bodyTruncated: bodyTruncated,
            bodyBytesReceived: bodyBytesReceived,
            curlCode: code,
            curlMessage: message,
            timings: timings,
            redirects: Array(hops),
            redirectURL: redirectURL,
            effectiveURL: effectiveURL,
            primaryIP: primaryIP,
            primaryPort: port > 0 ? port : nil,
            connectionReused: newConnections == 0 && primaryIP != nil && code == 0,
            tls: tls)
        if let brokenOff {
            result.log = ["response broke off inside its headers (status line said \(brokenOff.status))"]
        }
        return withLog ? result.completingLog() : result
    }
}

extension ProbeResult {
    /// The evidence lines, with any note already there placed before the curl error line.
    func completingLog() -> ProbeResult {
        var result = self
        let notes = log
        result.log = EvidenceLog.lines(for: result)
        let at = result.log.firstIndex { $0.hasPrefix("curl error") } ?? result.log.endIndex
        result.log.insert(contentsOf: notes, at: at)
        return result
    }
}

private extension String {
    func trimmingTrailingNewlines() -> String {
        var scalars = Substring(self).unicodeScalars
        while let last = scalars.last, last == "\n" || last == "\r" || last == " " { scalars.removeLast() }
        return String(scalars)
    }
}

// MARK: C callbacks (no captures, so they convert to C function pointers)

private func transferWriteCallback(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                                   _ userdata: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let ptr, let userdata, n > 0 else { return n }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receiveBody(UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private func transferHeaderCallback(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                                    _ userdata: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let ptr, let userdata, n > 0 else { return n }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private func transferProgressCallback(_ userdata: UnsafeMutableRawPointer?, _ dltotal: curl_off_t,
                                      _ dlnow: curl_off_t, _ ultotal: curl_off_t, _ ulnow: curl_off_t) -> Int32 {
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.shouldAbort ? 1 : 0
}
