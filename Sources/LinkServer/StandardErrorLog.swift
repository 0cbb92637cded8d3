import EvidenceModel
import Foundation
import Logging

/// `authdoctor serve`'s log: one line a message on standard error, `2026-11-23T10:15:02Z info GET /l/[REDACTED] 200 1.3 ms`.
/// Metadata values go through `Redactor` too, as a last net behind the redacted request paths.
public struct StandardErrorLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(level: Logger.Level) {
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        // Hummingbird tags every request's logger with its id; the line does not need it.
        let shown = metadata.merging(extra ?? [:]) { $1 }.filter { $0.key != "hb.request.id" }
        var text = "\(Self.timestamp()) \(level) \(message)"
        if !shown.isEmpty {
            text += " " + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        FileHandle.standardError.write(Data((Redactor.redact(text) + "\n").utf8))
    }

    static func timestamp() -> String { RFC3339.string(Date()) }

    public static func logger(level: Logger.Level) -> Logger {
        var logger = Logger(label: "authdoctor.serve") { _ in StandardErrorLogHandler(level: level) }
        logger.logLevel = level
        return logger
    }
}
