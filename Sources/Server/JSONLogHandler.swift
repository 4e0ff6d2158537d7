import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line on stderr (`serve --json-output`), for
/// log collectors: `{"timestamp", "level", "label", "message", ...metadata}`. Metadata values become
/// JSON strings (nested dictionaries and arrays keep their structure); a metadata key that would
/// replace one of the fixed fields is written with a `metadata.` prefix instead.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (String) -> Void

    /// A handler for `label` writing to stderr.
    public init(label: String) {
        self.init(label: label) { line in
            FileHandle.standardError.writeIgnoringErrors(line)
        }
    }

    /// A handler for `label` that passes each finished line (with its newline) to `write`.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: LogValue] = [:]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fixed: Set<String> = ["timestamp", "level", "label", "message"]
        for (key, value) in merged {
            fields[fixed.contains(key) ? "metadata." + key : key] = LogValue(value)
        }
        fields["timestamp"] = .string(Date().ISO8601Format())
        fields["level"] = .string(event.level.rawValue)
        fields["label"] = .string(label)
        fields["message"] = .string(event.message.description)
        // Strings, arrays and string-keyed objects only: encoding cannot fail.
        guard let line = try? ResponseEncoder.encodeToString(fields) else { return }
        write(line + "\n")
    }

    /// A metadata value as JSON: a string, or an array or object of them.
    private enum LogValue: Encodable {
        case string(String)
        case array([LogValue])
        case object([String: LogValue])

        init(_ value: Logger.Metadata.Value) {
            switch value {
            case .string(let text): self = .string(text)
            case .stringConvertible(let convertible): self = .string(convertible.description)
            case .array(let values): self = .array(values.map(LogValue.init))
            case .dictionary(let values): self = .object(values.mapValues(LogValue.init))
            }
        }

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .string(let text):
                var container = encoder.singleValueContainer()
                try container.encode(text)
            case .array(let values):
                var container = encoder.unkeyedContainer()
                for value in values { try container.encode(value) }
            case .object(let members):
                var container = encoder.container(keyedBy: NameKey.self)
                for (key, value) in members { try container.encode(value, forKey: NameKey(key)) }
            }
        }
    }
}

extension FileHandle {
    /// Writes `text`; a closed or full stream loses the line instead of trapping (logging must never
    /// take the server down).
    func writeIgnoringErrors(_ text: String) {
        try? write(contentsOf: Data(text.utf8))
    }
}
