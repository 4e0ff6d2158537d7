import Foundation

/// Reads a JSON Lines file a chunk at a time, handing out each line with its number and byte offset, so
/// files far larger than memory (a corpus of millions of documents) are never held whole.
struct LineReader {
    /// One line: its 1-based number, the file offset of its first byte in `bytes`, and its bytes without
    /// `\n`/`\r\n` (and without the byte order mark on line 1).
    typealias Line = (number: Int, offset: Int64, bytes: ArraySlice<UInt8>)

    /// Calls `body` for each line of `path` in order; a UTF-8 byte order mark at the start is dropped.
    static func forEachLine(of path: String, _ body: (Line) throws -> Void) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MiningError(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw MiningError(path: path, reason: "is a directory, not a JSON Lines file") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw MiningError(path: path, reason: "cannot be opened for reading") }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var pendingOffset: Int64 = 0  // file offset of pending[0]
        var number = 0
        func emit(_ line: ArraySlice<UInt8>) throws {
            number += 1
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if number == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            // Slices keep `pending`'s indices, so the start index locates the bytes in the file.
            try body((number, pendingOffset + Int64(line.startIndex), line))
        }
        while true {
            let chunk: Data
            do {
                guard let read = try handle.read(upToCount: 1 << 20), !read.isEmpty else { break }
                chunk = read
            } catch {
                throw MiningError(path: path, reason: "read failed: \(error.localizedDescription)")
            }
            pending.append(contentsOf: chunk)
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                try emit(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
            pendingOffset += Int64(start)
        }
        if !pending.isEmpty { try emit(pending[...]) }
    }

    /// True for a line of spaces, tabs and carriage returns only (skipped, as the training reader does).
    static func isBlank(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}
