import Foundation

/// Reads JSON / JSON Lines / TSV files into rows of named roles (`sentence1`, `score`, `text`, …).
///
/// Each role maps to a field through the source's `fields` (default: a field of the role's own name).
/// Numbers and booleans are returned as text; a list-valued field expands its row into one row per
/// element, so MTEB-style rows (`{"sentences": [...], "labels": [...]}`) read like flat ones.
public enum TableReader {
    /// The rows of `source`, each with a value for every role in `roles`.
    public static func rows(of source: DataSource, at url: URL, roles: [String]) throws -> [[String: String]] {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else { throw EvaluationError.unreadableFile(path: path) }
        let format = source.format ?? inferredFormat(path)
        var rows: [[String: String]]
        switch format {
        case .tsv: rows = try tsvRows(data, source: source, path: path, roles: roles)
        case .json: rows = try jsonRows(data, source: source, path: path, roles: roles)
        case .beir: throw EvaluationError.invalidValue(what: "format for \(path)", value: "beir is a folder format; use it for retrieval and reranking")
        }
        guard !rows.isEmpty else { throw EvaluationError.emptyData(path: path, what: "no rows after filtering") }
        return rows
    }

    static func inferredFormat(_ path: String) -> DataSource.Format {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return .beir }
        return path.hasSuffix(".tsv") || path.hasSuffix(".csv") || path.hasSuffix(".txt") ? .tsv : .json
    }

    /// Splits data into lines (LF or CRLF), numbering them from 1, skipping blank ones.
    static func lines(_ data: Data) -> [(number: Int, text: String)] {
        var result: [(Int, String)] = []
        var number = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            var text = String(decoding: line, as: UTF8.self)
            if text.hasSuffix("\r") { text.removeLast() }
            if text.allSatisfy(\.isWhitespace) { continue }
            result.append((number, text))
        }
        return result
    }

    static func tsvRows(_ data: Data, source: DataSource, path: String, roles: [String]) throws -> [[String: String]] {
        var lines = lines(data)
        var columns: [String: Int] = [:]
        if source.header ?? true {
            guard let first = lines.first else { throw EvaluationError.emptyData(path: path, what: "empty file") }
            for (index, name) in first.text.split(separator: "\t", omittingEmptySubsequences: false).enumerated() {
                columns[String(name)] = index
            }
            lines.removeFirst()
        }
        func column(for role: String, _ reference: FieldReference?) throws -> Int {
            switch reference ?? .name(role) {
            case .column(let index): return index
            case .name(let name):
                if let index = columns[name] { return index }
                if let index = Int(name), !(source.header ?? true) { return index }
                throw EvaluationError.malformedRecord(path: path, line: 1, reason: "no column \"\(name)\" for \(role) in the header")
            }
        }
        let roleColumns = try roles.map { ($0, try column(for: $0, source.fields?[$0])) }
        let filterColumns = try (source.filter ?? [:]).map { (try column(for: $0.key, .name($0.key)), $0.value) }
        var rows: [[String: String]] = []
        for (number, text) in lines {
            let cells = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if filterColumns.contains(where: { $0.0 >= cells.count || cells[$0.0] != $0.1 }) { continue }
            var row: [String: String] = [:]
            for (role, index) in roleColumns {
                guard index < cells.count else {
                    throw EvaluationError.malformedRecord(path: path, line: number, reason: "\(cells.count) columns, \(role) is column \(index)")
                }
                row[role] = cells[index]
            }
            rows.append(row)
        }
        return rows
    }

    static func jsonRows(_ data: Data, source: DataSource, path: String, roles: [String]) throws -> [[String: String]] {
        var objects: [(line: Int, object: [String: Any])] = []
        let trimmed = data.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF }
        if trimmed.first == UInt8(ascii: "[") {
            guard let array = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
                throw EvaluationError.malformedRecord(path: path, line: 1, reason: "not a JSON array")
            }
            for (index, element) in array.enumerated() {
                guard let object = element as? [String: Any] else {
                    throw EvaluationError.malformedRecord(path: path, line: 1, reason: "element \(index) is not an object")
                }
                objects.append((index + 1, object))
            }
        } else {
            for (number, text) in lines(data) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    throw EvaluationError.malformedRecord(path: path, line: number, reason: "not a JSON object")
                }
                objects.append((number, object))
            }
        }
        var rows: [[String: String]] = []
        for (number, object) in objects {
            if let filter = source.filter, filter.contains(where: { scalar(object[$0.key]) != $0.value }) { continue }
            var values: [String: Any] = [:]
            var listLength: Int?
            for role in roles {
                let name: String
                switch source.fields?[role] ?? .name(role) {
                case .name(let field): name = field
                case .column(let index): throw EvaluationError.invalidValue(what: "field for \(role) in \(path)", value: "column \(index) (JSON fields are named)")
                }
                guard let value = object[name], !(value is NSNull) else {
                    throw EvaluationError.malformedRecord(path: path, line: number, reason: "missing field \"\(name)\" (\(role))")
                }
                if let list = value as? [Any] {
                    if let listLength, listLength != list.count {
                        throw EvaluationError.malformedRecord(path: path, line: number, reason: "list fields differ in length (\(listLength) vs \(list.count) in \"\(name)\")")
                    }
                    listLength = list.count
                }
                values[role] = value
            }
            for element in 0..<(listLength ?? 1) {
                var row: [String: String] = [:]
                for role in roles {
                    let value = listLength == nil ? values[role]! : ((values[role] as? [Any])?[element] ?? values[role]!)
                    guard let text = scalar(value) else {
                        throw EvaluationError.malformedRecord(path: path, line: number, reason: "field for \(role) is not a string or number")
                    }
                    row[role] = text
                }
                rows.append(row)
            }
        }
        return rows
    }

    /// A JSON scalar as text (integral numbers without a fraction, others in their shortest form).
    static func scalar(_ value: Any?) -> String? {
        switch value {
        case let string as String: return string
        case let number as NSNumber:
            let double = number.doubleValue
            if double == double.rounded(), abs(double) < 1e15 { return String(Int64(double)) }
            return String(double)
        default: return nil
        }
    }

    /// Parses a numeric field, naming the file and value on failure.
    static func number(_ text: String, role: String, path: String) throws -> Double {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw EvaluationError.invalidValue(what: "\(role) in \(path)", value: "\"\(text)\" is not a number")
        }
        return value
    }
}
