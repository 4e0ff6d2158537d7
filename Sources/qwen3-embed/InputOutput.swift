import Foundation
import ModelFormats
import Qwen3
import Qwen3Embedding
import Tokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CLI failure with a message for the user (bad input file, unreadable line, …).
struct CommandLineError: LocalizedError {
    let errorDescription: String?
    init(_ message: String) { errorDescription = message }
}

// MARK: - Standard streams

/// Checked access to the three standard streams.
///
/// `FileHandle.write` and `readDataToEndOfFile` trap (SIGILL) when the descriptor is closed or the disk
/// is full, and `print` drops bytes silently; this writes with write(2) and reads with read(2), so a
/// closed or full stream is an error the command reports (or, for stderr, an exit status).
enum StandardStreams {
    /// Makes the standard streams safe to check: call first thing in `main`, before anything opens a file.
    ///
    /// - SIGPIPE is ignored, so writing to a pipe whose reader has gone is an `EPIPE` error reported
    ///   like any other rather than a silent kill.
    /// - A stream the parent closed (`>&-`) gets a placeholder descriptor opened the wrong way round
    ///   (`/dev/null` read-only on 1 and 2, write-only on 0). Every later write to stdout then fails with
    ///   `EBADF` as the closed descriptor would, and the number cannot be handed to a model file opened
    ///   later, which would otherwise receive our JSON output or be read as our input.
    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        for (descriptor, flags) in [(Int32(0), O_WRONLY), (1, O_RDONLY), (2, O_RDONLY)] where fcntl(descriptor, F_GETFD) == -1 {
            let placeholder = open("/dev/null", flags | O_CLOEXEC)
            if placeholder >= 0, placeholder != descriptor {
                dup2(placeholder, descriptor)
                close(placeholder)
            }
        }
    }

    /// Writes all of `bytes` to `descriptor`, retrying short and interrupted writes; returns 0 or the errno.
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32 {
        guard var base = bytes.baseAddress else { return 0 }
        var remaining = bytes.count
        while remaining > 0 {
            let written = write(descriptor, base, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if written == 0 { return EIO }  // no progress and no error: do not spin
            base += written
            remaining -= written
        }
        return 0
    }

    /// Writes `text` to stdout.
    ///
    /// - Throws: `CommandLineError` naming the reason (closed, disk full, broken pipe).
    static func writeOutput(_ text: String) throws {
        // Anything `print` buffered must come first, and its own failure counts too.
        try flushPrintedOutput()
        var text = text
        let failure = text.withUTF8 { writeAll(UnsafeRawBufferPointer($0), to: 1) }
        if failure != 0 { throw outputError(failure) }
    }

    /// Writes `text` to stderr; returns false when stderr cannot take it (closed or full), which callers
    /// ignore for diagnostics: there is nowhere left to report it.
    @discardableResult
    static func writeDiagnostic(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { writeAll(UnsafeRawBufferPointer($0), to: 2) } == 0
    }

    /// Flushes the C `stdout` buffer that Swift's `print` fills and reports a failed write.
    ///
    /// `print` cannot report errors, so the command's last step calls this: output lost to a closed or
    /// full stdout then fails the command instead of exiting 0. (`fflush(nil)` flushes every stream:
    /// Swift 6 does not let this code name the global `stdout`. glibc keeps unwritten bytes buffered
    /// after a failed write, so an earlier failure fails this flush again.)
    static func flushPrintedOutput() throws {
        errno = 0
        if fflush(nil) != 0 {
            throw outputError(errno == 0 ? EIO : errno)
        }
    }

    /// Reads stdin to its end.
    ///
    /// - Throws: `CommandLineError` when stdin is closed (`<&-`) or unreadable.
    static func readInput() throws -> Data {
        try readAll(descriptor: 0, name: "standard input")
    }

    /// Reads `descriptor` to its end with read(2), retrying interrupted reads.
    static func readAll(descriptor: Int32, name: String) throws -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CommandLineError("cannot read \(name): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
        }
    }

    private static func outputError(_ code: Int32) -> CommandLineError {
        CommandLineError("cannot write to standard output: \(String(cString: strerror(code)))")
    }
}

/// Writes `text` and a newline to stdout, reporting failures (the checked `print`).
func printOutput(_ text: String) throws {
    try StandardStreams.writeOutput(text + "\n")
}

// MARK: - JSON Lines input

/// Nesting deeper than this in one input line is refused before parsing: inputs are flat objects, and a
/// recursive parser given a line of a million `[` would otherwise exhaust the stack.
let maximumJSONLineDepth = 64

/// Reads JSON Lines from a file or stdin (`-`), returning the string fields named `keys` of each line.
///
/// Blank lines are skipped; a line that is not a JSON object with those string fields is an error
/// naming the file and line number. Invalid UTF-8 inside the file is replaced by U+FFFD, as Python's
/// `errors="replace"` does, rather than rejected. A closed stdin, a directory or an unreadable file is a
/// one-line error. Files are read with read(2), so a FIFO or process substitution (`<(…)`) works.
func readJSONLines(_ path: String, keys: [String]) throws -> [[String]] {
    let data: Data
    if path == "-" {
        data = try StandardStreams.readInput()
    } else {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CommandLineError("cannot read input file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        data = try StandardStreams.readAll(descriptor: descriptor, name: "input file \(path)")
    }
    let name = path == "-" ? "stdin" : path
    var rows: [[String]] = []
    var lineNumber = 0
    for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        lineNumber += 1
        let text = String(decoding: line, as: UTF8.self)
        if text.allSatisfy(\.isWhitespace) { continue }
        let depth = jsonNestingDepth(text.utf8)
        guard depth <= maximumJSONLineDepth else {
            throw CommandLineError("\(name):\(lineNumber): JSON nested deeper than \(maximumJSONLineDepth) levels")
        }
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

/// The deepest bracket nesting in `bytes`, ignoring brackets inside JSON strings (one linear pass).
func jsonNestingDepth(_ bytes: String.UTF8View) -> Int {
    var depth = 0, deepest = 0
    var inString = false, escaped = false
    for byte in bytes {
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
            continue
        }
        switch byte {
        case UInt8(ascii: "\""): inString = true
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            depth += 1
            deepest = max(deepest, depth)
        case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
        default: break
        }
    }
    return deepest
}

// MARK: - JSON Lines output

/// Buffers JSON Lines and writes them to stdout in large chunks.
///
/// Writes are checked: a closed or full stdout, or a pipe whose reader has gone, makes `write`/`flush`
/// throw instead of trapping, and the command fails with a one-line error.
struct JSONLinesWriter: ~Copyable {
    private var buffer = ""

    /// Appends one line (without its newline).
    mutating func write(_ line: String) throws {
        buffer += line
        buffer += "\n"
        if buffer.utf8.count > 1 << 16 { try flush() }
    }

    /// Writes everything buffered.
    mutating func flush() throws {
        let pending = buffer
        buffer = ""
        try StandardStreams.writeOutput(pending)
    }

    deinit {
        // Only reached when a command failed before flushing: its error is what gets reported, so the
        // rest of the output is written on a best-effort basis (never a trap).
        if !buffer.isEmpty { try? StandardStreams.writeOutput(buffer) }
    }
}

/// A JSON number for a Float: the shortest text that reads back to the same value.
func jsonNumber(_ value: Float) -> String {
    value.isFinite ? "\(value)" : "null"
}

// MARK: - Token limits shared by embed and tokenize

/// The most ids `embed --max-length requested` feeds the model for one text, or an error when no text
/// token would fit; `tokenize` uses the same function so that both commands agree on every value.
///
/// An embedding is the state at the appended `<|endoftext|>`, so a text needs at least one token of
/// its own beside the tokenizer's added ones: below that every input would give the same vector. The
/// `Embedder` checks `requested` that way and then caps it at the model's context
/// (`max_position_embeddings`); a context below the minimum is refused here rather than turned into
/// one identical embedding for every input (a config.json with `max_position_embeddings: 1`).
///
/// - Parameter context: the model's `max_position_embeddings`, nil when unknown (tokenizer files only).
func embeddingLengthLimit(requested: Int, context: Int?, tokenizer: Tokenizer) throws -> Int {
    let minimum = tokenizer.numberOfAddedSpecialTokens + 1
    guard requested >= minimum else { throw EmbeddingError.maxLengthTooSmall(maxLength: requested, minimum: minimum) }
    guard let context else { return requested }
    guard context >= minimum else {
        throw CommandLineError(
            "the model's context is \(context) token\(context == 1 ? "" : "s") (max_position_embeddings), fewer than the "
            + "\(minimum) an embedding needs (one text token and the appended end-of-text token): every input would give the same vector")
    }
    return min(requested, context)
}

/// Refuses an embedder whose model context cannot hold a text token (see `embeddingLengthLimit`).
func requireUsableContext(_ embedder: Embedder, requestedMaxLength: Int) throws {
    _ = try embeddingLengthLimit(
        requested: requestedMaxLength, context: embedder.model.configuration.maxPositionEmbeddings, tokenizer: embedder.tokenizer)
}

/// The `max_position_embeddings` of the model at `path` (a directory's config.json or a GGUF file's
/// `context_length`), nil for a directory that holds tokenizer files only.
func modelContextLength(_ path: String) throws -> Int? {
    switch try ModelLocation(path: path) {
    case .gguf(let file):
        return try Qwen3Configuration(gguf: GGUFFile(path: file)).maxPositionEmbeddings
    case .directory(let directory):
        guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("config.json")) else { return nil }
        return try Qwen3Configuration.load(directory: directory).maxPositionEmbeddings
    }
}

// MARK: - Progress

/// Progress on stderr for long jobs.
///
/// On a terminal: a bar redrawn in place and status lines. Otherwise (a log file, a pipe, CI): one plain
/// line per milestone, `qwen3-embed: <note>` and `qwen3-embed: <label> done N/total` when the job
/// completes, so logs show what happened without a line per chunk.
struct Progress: Sendable {
    let label: String
    let total: Int
    let interactive = isatty(2) == 1

    /// Redraws the bar for `done` items (on a terminal), or logs the completion line (otherwise).
    func update(_ done: Int) {
        guard total > 0 else { return }
        guard interactive else {
            if done == total { StandardStreams.writeDiagnostic("qwen3-embed: \(label) done \(done)/\(total)\n") }
            return
        }
        let width = 30
        let filled = width * min(done, total) / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        StandardStreams.writeDiagnostic("\r\(label) [\(bar)] \(done)/\(total)" + (done >= total ? "\n" : ""))
    }

    /// Prints a status line (e.g. "loading model").
    func note(_ message: String) {
        StandardStreams.writeDiagnostic(interactive ? "\(message)\n" : "qwen3-embed: \(message)\n")
    }
}
