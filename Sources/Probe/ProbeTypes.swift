// Public value types of the Probe module. Plain Swift only: no libcurl type appears here.

import EvidenceModel

/// One HTTP header line as sent or received (name keeps the case it had on the wire).
public struct HTTPHeader: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name: name, value: value)
    }
}

/// What to send. Every request has a connect and a total timeout, and TLS peer and host
/// verification are always on (there is deliberately no option to switch them off).
public struct ProbeRequest: Sendable {
    /// HTTP method; "GET" by default. "HEAD" sends a HEAD request without reading a body.
    public var method: String
    /// Absolute http:// or https:// URL. Other schemes are refused by libcurl (CURLE_UNSUPPORTED_PROTOCOL).
    public var url: String
    public var headers: [HTTPHeader]
    /// Request body, sent with a Content-Length (never read from stdin).
    public var body: [UInt8]?
    /// Seconds allowed for DNS + TCP connect + TLS handshake (CURLOPT_CONNECTTIMEOUT_MS). Default 5.
    public var connectTimeout: Double
    /// Seconds the whole transfer may take, redirects included (CURLOPT_TIMEOUT_MS). Default 10.
    public var totalTimeout: Double
    /// Bytes of (decoded) response body kept; the rest is read and discarded, `bodyTruncated` is set.
    public var maxBodyBytes: Int
    /// Follow 3xx Location headers (CURLOPT_FOLLOWLOCATION). Default false.
    public var followRedirects: Bool
    /// Redirects followed at most; one more 3xx ends with CURLE_TOO_MANY_REDIRECTS (47). Default 10.
    public var maxRedirects: Int
    /// PEM file with trust anchors (CURLOPT_CAINFO) replacing libcurl's default CA file; libcurl's
    /// default CA directory (CAPATH) stays in use. Verification itself is never switched off.
    public var caBundlePath: String?
    /// CURLOPT_RESOLVE entries, "host:port:address", e.g. "api.example.test:443:127.0.0.1".
    public var resolve: [String]

    public init(
        method: String = "GET",
        url: String,
        headers: [HTTPHeader] = [],
        body: [UInt8]? = nil,
        connectTimeout: Double = 5,
        totalTimeout: Double = 10,
        maxBodyBytes: Int = 1 << 20,
        followRedirects: Bool = false,
        maxRedirects: Int = 10,
        caBundlePath: String? = nil,
        resolve: [String] = []
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxBodyBytes = maxBodyBytes
        self.followRedirects = followRedirects
        self.maxRedirects = maxRedirects
        self.caBundlePath = caBundlePath
        self.resolve = resolve
    }
}

/// Phase timings in seconds, read from CURLINFO_*_TIME_T (microseconds). Like curl's `-w` times they
/// are cumulative: each is the time from the start of the transfer until that phase ended, and
/// 0 when the phase did not happen (e.g. `tlsSeconds` for plain HTTP, `dnsSeconds` for an IP URL
/// may be tiny, `connectSeconds` on a reused connection).
public struct PhaseTimings: Sendable, Equatable {
    /// CURLINFO_NAMELOOKUP_TIME_T
    public var dnsSeconds: Double
    /// CURLINFO_CONNECT_TIME_T (TCP connect to the host or proxy finished)
    public var connectSeconds: Double
    /// CURLINFO_APPCONNECT_TIME_T (TLS handshake finished); 0 without TLS
    public var tlsSeconds: Double
    /// CURLINFO_STARTTRANSFER_TIME_T (first response byte)
    public var firstByteSeconds: Double
    /// CURLINFO_TOTAL_TIME_T
    public var totalSeconds: Double
    /// CURLINFO_REDIRECT_TIME_T (all redirect steps before the final transfer)
    public var redirectSeconds: Double

    public init(dnsSeconds: Double = 0, connectSeconds: Double = 0, tlsSeconds: Double = 0,
                firstByteSeconds: Double = 0, totalSeconds: Double = 0, redirectSeconds: Double = 0) {
        self.dnsSeconds = dnsSeconds
        self.connectSeconds = connectSeconds
        self.tlsSeconds = tlsSeconds
        self.firstByteSeconds = firstByteSeconds
        self.totalSeconds = totalSeconds
        self.redirectSeconds = redirectSeconds
    }
}

/// One response that was not the final one (a followed redirect), in the order received.
public struct RedirectHop: Sendable, Equatable {
    /// Status code of that response (e.g. 302).
    public var status: Int
    /// The URL that gave this response.
    public var url: String
    /// Its Location header as sent (may be relative), nil when absent.
    public var location: String?

    public init(status: Int, url: String, location: String?) {
        self.status = status
        self.url = url
        self.location = location
    }
}

public struct TLSInfo: Sendable, Equatable {
    /// The (final) URL used https.
    public var used: Bool
    /// CURLINFO_SSL_VERIFYRESULT: the OpenSSL X509 verify result (0 = ok, 18 = self-signed, ...).
    public var verifyResult: Int
    /// A TLS session was set up and the peer certificate and host name were verified.
    public var verified: Bool
    /// libcurl's error text when the transfer failed in TLS (e.g. "SSL certificate problem: ...").
    public var failure: String?

    public init(used: Bool = false, verifyResult: Int = 0, verified: Bool = false, failure: String? = nil) {
        self.used = used
        self.verifyResult = verifyResult
        self.verified = verified
        self.failure = failure
    }
}

public struct ProbeResult: Sendable {
    /// What ran (callers redact before printing).
    public var request: ProbeRequest
    /// Final HTTP status; nil when no HTTP response arrived.
    public var status: Int?
    /// "1.0", "1.1", "2", "3" from the final status line.
    public var httpVersion: String?
    /// Headers of the final response, in order.
    public var headers: [HTTPHeader]
    /// Body of the final response (decoded if it was gzip/deflate/br), at most `request.maxBodyBytes`.
    public var body: [UInt8]
    public var bodyTruncated: Bool
    /// Decoded body bytes of the final response received, including discarded ones.
    public var bodyBytesReceived: Int
    /// The CURLcode (0 = the exchange completed, whatever the HTTP status).
    public var curlCode: Int
    /// `CurlCodes.name(curlCode)`, e.g. "CURLE_OPERATION_TIMEDOUT".
    public var curlName: String
    /// CURLOPT_ERRORBUFFER text, or curl_easy_strerror when the buffer is empty ("" for 0).
    public var curlMessage: String
    public var timings: PhaseTimings
    /// Every response before the final one (followed redirects), with status and Location.
    public var redirects: [RedirectHop]
    /// Where a 3xx final response points to (CURLINFO_REDIRECT_URL, resolved), when not followed.
    public var redirectURL: String?
    public var effectiveURL: String?
    public var primaryIP: String?
    public var primaryPort: Int?
    /// No new connection was opened for this transfer (a cached one was reused; performAll only).
    public var connectionReused: Bool
    public var tls: TLSInfo
    /// Short evidence lines. URLs in them carry no query, fragment or user info.
    public var log: [String]

    public init(request: ProbeRequest, status: Int? = nil, httpVersion: String? = nil,
                headers: [HTTPHeader] = [], body: [UInt8] = [], bodyTruncated: Bool = false,
                bodyBytesReceived: Int = 0, curlCode: Int = 0, curlName: String? = nil,
                curlMessage: String = "", timings: PhaseTimings = PhaseTimings(),
                redirects: [RedirectHop] = [], redirectURL: String? = nil, effectiveURL: String? = nil,
                primaryIP: String? = nil, primaryPort: Int? = nil, connectionReused: Bool = false,
                tls: TLSInfo = TLSInfo(), log: [String] = []) {
        self.request = request
        self.status = status
        self.httpVersion = httpVersion
        self.headers = headers
        self.body = body
        self.bodyTruncated = bodyTruncated
        self.bodyBytesReceived = bodyBytesReceived
        self.curlCode = curlCode
        self.curlName = curlName ?? CurlCodes.name(curlCode)
        self.curlMessage = curlMessage
        self.timings = timings
        self.redirects = redirects
        self.redirectURL = redirectURL
        self.effectiveURL = effectiveURL
        self.primaryIP = primaryIP
        self.primaryPort = primaryPort
        self.connectionReused = connectionReused
        self.tls = tls
        self.log = log
    }

    /// First value of a final-response header, case-insensitive.
    public func header(_ name: String) -> String? {
        let lower = name.fastLowercased()
        return headers.first { $0.name.fastLowercased() == lower }?.value
    }

    /// All values of a final-response header, case-insensitive, in order.
    public func headerValues(_ name: String) -> [String] {
        let lower = name.fastLowercased()
        return headers.filter { $0.name.fastLowercased() == lower }.map(\.value)
    }

    /// The body as UTF-8 text (invalid sequences repaired).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// libcurl completed the exchange (curlCode 0) and an HTTP response arrived.
    public var completed: Bool { curlCode == 0 && status != nil }

    /// `CurlCodes.transportError(curlCode)`: nil on success, else "dns", "refused", "timeout", "tls", ...
    public var transportError: String? { CurlCodes.transportError(curlCode) }

    /// The redirect chain visits some URL twice (a loop, as in "too many redirects").
    public var redirectLoop: Bool {
        var seen = Set<String>()
        for url in redirects.map(\.url) + [effectiveURL].compactMap({ $0 }) {
            if !seen.insert(url).inserted { return true }
        }
        return false
    }
}
