/// One HTTP response as seen by a customer, a HAR export or a live probe.
public struct ResponseSnapshot: Sendable, Equatable {
    public var status: Int
    public var reason: String?
    public var httpVersion: String?
    /// Header names as received; lookups are case-insensitive.
    public var headers: [(name: String, value: String)]
    public var body: String
    /// The URL this response answered, when known (HAR, probe).
    public var url: String?

    public init(status: Int, reason: String? = nil, httpVersion: String? = nil,
                headers: [(name: String, value: String)] = [], body: String = "", url: String? = nil) {
        self.status = status
        self.reason = reason
        self.httpVersion = httpVersion
        self.headers = headers
        self.body = body
        self.url = url
    }

    public func header(_ name: String) -> String? {
        let matches = headers.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
        return matches.isEmpty ? nil : matches.joined(separator: ", ")
    }

    public static func == (a: ResponseSnapshot, b: ResponseSnapshot) -> Bool {
        a.status == b.status && a.reason == b.reason && a.httpVersion == b.httpVersion && a.body == b.body
            && a.url == b.url && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}

/// The request side, when the evidence shows it (HAR, `curl -v`, a probe).
public struct RequestSnapshot: Sendable, Equatable {
    public var method: String
    public var url: String?
    public var headers: [(name: String, value: String)]

    public init(method: String = "GET", url: String? = nil, headers: [(name: String, value: String)] = []) {
        self.method = method
        self.url = url
        self.headers = headers
    }

    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name.caseInsensitiveEquals(name) })?.value
    }

    public static func == (a: RequestSnapshot, b: RequestSnapshot) -> Bool {
        a.method == b.method && a.url == b.url && a.headers.map(\.name) == b.headers.map(\.name)
            && a.headers.map(\.value) == b.headers.map(\.value)
    }
}

/// Everything known about one failing exchange, before it is turned into facts.
public struct Evidence: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case response, har, text, curlExit = "curl-exit", record, probe
    }

    public var kind: Kind
    /// The provider the caller named (`--provider`), if any.
    public var provider: String?
    /// Responses in order; the last one is final, the earlier ones are redirects.
    public var responses: [ResponseSnapshot]
    public var request: RequestSnapshot?
    /// Text a customer pasted.
    public var text: String?
    public var curlExit: Int?
    public var curlMessage: String?
    public var url: String?
    public var sqlstate: String?
    /// Facts known from outside the exchange itself (HAR-wide observations, probe results).
    public var extraFacts: Facts

    public init(kind: Kind, provider: String? = nil, responses: [ResponseSnapshot] = [], request: RequestSnapshot? = nil,
                text: String? = nil, curlExit: Int? = nil, curlMessage: String? = nil, url: String? = nil,
                sqlstate: String? = nil, extraFacts: Facts = Facts()) {
        self.kind = kind
        self.provider = provider
        self.responses = responses
        self.request = request
        self.text = text
        self.curlExit = curlExit
        self.curlMessage = curlMessage
        self.url = url
        self.sqlstate = sqlstate
        self.extraFacts = extraFacts
    }

    public var finalResponse: ResponseSnapshot? { responses.last }
}

/// Bad input, said in one line with its place. Maps to a sysexits status in the CLI.
public struct InputError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The data is malformed (EX_DATAERR, 65).
        case data
        /// A file is missing or unreadable (EX_NOINPUT, 66).
        case noInput
        /// The command line is wrong (EX_USAGE, 64).
        case usage
        /// A configuration (rules) file is wrong (EX_CONFIG, 78).
        case config
        /// Output could not be written (EX_IOERR, 74).
        case io
        /// A library or service the command needs is missing (EX_UNAVAILABLE, 69).
        case unavailable
    }

    public var kind: Kind
    public var place: String?
    public var message: String

    public init(_ kind: Kind, _ message: String, place: String? = nil) {
        self.kind = kind
        self.message = message
        self.place = place
    }

    public var description: String {
        if let place { return "\(place): \(message)" }
        return message
    }

    public var exitCode: Int32 {
        switch kind {
        case .data: return 65
        case .noInput: return 66
        case .usage: return 64
        case .config: return 78
        case .io: return 74
        case .unavailable: return 69
        }
    }
}

extension String {
    @inlinable func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && lowercased() == other.lowercased()
    }
}

extension StringProtocol {
    /// Trims ASCII whitespace without Foundation (whose trimming bridges through NSString and
    /// dominated batch profiles).
    public func trimmedWhitespace() -> String {
        let whole = Substring(self)
        let utf8 = whole.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }
        while start < end, isSpace(utf8[start]) { start = utf8.index(after: start) }
        while end > start {
            let before = utf8.index(before: end)
            if isSpace(utf8[before]) { end = before } else { break }
        }
        return String(whole[start..<end])
    }
}

extension String {
    /// The same as StringProtocol's, without a copy when there is nothing to trim (the usual case).
    public func trimmedWhitespace() -> String {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }
        guard let first = utf8.first, let last = utf8.last else { return self }
        if !isSpace(first) && !isSpace(last) { return self }
        return Substring(self).trimmedWhitespace()
    }
}
