import Foundation

/// A CLI failure with a message for the user (bad input file, unreadable line, …).
struct CommandLineError: LocalizedError {
    let errorDescription: String?
    init(_ message: String) { errorDescription = message }
}

/// Reads JSON Lines from a file or stdin (`-`), returning the string fields named `keys` of each line.
///
/// Blank lines are skipped; a line that is not a JSON object with those string fields is an error
/// naming the file and line number. Invalid UTF-8 inside the file is replaced by U+FFFD, as Python's
/// `errors="replace"` does, rather than rejected.
func readJSONLines(_ path: String, keys: [String]) throws -> [[String]] {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw CommandLineError("cannot read input file \(path)")
        }
        data = contents
    }
    let name = path == "-" ? "stdin" : path
    var rows: [[String]] = []
    var lineNumber = 0
    for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        lineNumber += 1
        let text = String(decoding: line, as: UTF8.self)
        if text.allSatisfy(\.isWhitespace) { continue }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw CommandLineError("\(name):\(lineNumber): not a JSON object")
        }
        var fields: [String] = []
        for key in keys {
            guard let value = object[key] as? String else {
                throw CommandLineError("\(name):\(lineNumber): missing string field \"\(key)\"")
            }
            fields.append(value)
        }
        rows.append(fields)
    }
    return rows
}

/// Buffers JSON Lines and writes them to stdout in large chunks.
struct JSONLinesWriter: ~Copyable {
    private var buffer = ""

    /// Appends one line (without its newline).
    mutating func write(_ line: String) {
        buffer += line
        buffer += "\n"
        if buffer.utf8.count > 1 << 16 { flush() }
    }

    /// Writes everything buffered.
    mutating func flush() {
        FileHandle.standardOutput.write(Data(buffer.utf8))
        buffer = ""
    }

    deinit {
        if !buffer.isEmpty { FileHandle.standardOutput.write(Data(buffer.utf8)) }
    }
}

/// A JSON number for a Float: the shortest text that reads back to the same value.
func jsonNumber(_ value: Float) -> String {
    value.isFinite ? "\(value)" : "null"
}

/// A JSON string literal.
func jsonString(_ value: String) -> String {
    let data = try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes])
    guard let data, let array = String(data: data, encoding: .utf8) else { return "\"\"" }
    return String(array.dropFirst().dropLast())
}

/// Progress on stderr for long jobs, shown only when stderr is a terminal.
struct Progress: Sendable {
    let label: String
    let total: Int
    let enabled = isatty(2) == 1

    /// Redraws the bar for `done` items.
    func update(_ done: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
        if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// Prints a status line (e.g. "loading model").
    func note(_ message: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}
