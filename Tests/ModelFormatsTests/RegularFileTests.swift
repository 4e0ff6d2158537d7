import Foundation
import Testing
@testable import ModelFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Model files are opened only when they are regular files: a FIFO would block the open forever, a
/// device or socket is never a model (issue 13, H3). Every check here returns at once; a regression
/// would block in `open`, which the `FIFOUnblocker` ends after a long delay so the test fails, not hangs.
@Suite struct RegularFileTests {
    func scratchDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("regular-file-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func fifo(in directory: String, named name: String) throws -> String {
        let path = "\(directory)/\(name)"
        try #require(mkfifo(path, 0o644) == 0)
        return path
    }

    func expectRefusal(_ path: String, _ kind: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: ModelFormatError.self, sourceLocation: sourceLocation) { try body() }
        let message = error?.localizedDescription ?? ""
        #expect(message.contains(path) && message.contains("not a regular file (\(kind))"), "\(message)", sourceLocation: sourceLocation)
    }

    @Test func everyOpenerRefusesAFIFO() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try fifo(in: directory, named: "model.safetensors")
        let unblocker = FIFOUnblocker(path: path)
        defer { unblocker.stop() }
        expectRefusal(path, "a FIFO") { try RegularFile.require(path) }
        expectRefusal(path, "a FIFO") { _ = try RegularFile.contents(atPath: path) }
        expectRefusal(path, "a FIFO") { _ = try MappedFile(path: path) }
        expectRefusal(path, "a FIFO") { _ = try SafetensorsFile(path: path) }
        expectRefusal(path, "a FIFO") { _ = try GGUFFile(path: path) }
        expectRefusal(path, "a FIFO") { _ = try ModelLocation(path: path) }
    }

    @Test func aSymbolicLinkToAFIFOIsRefusedAndOneToARegularFileIsFollowed() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = try fifo(in: directory, named: "target")
        let unblocker = FIFOUnblocker(path: target)
        defer { unblocker.stop() }
        let link = "\(directory)/config.json"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        expectRefusal(link, "a FIFO") { _ = try RegularFile.contents(atPath: link) }
        let regular = "\(directory)/regular"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: regular))
        let good = "\(directory)/good.json"
        try FileManager.default.createSymbolicLink(atPath: good, withDestinationPath: regular)
        #expect(try RegularFile.contents(atPath: good) == Data("{}".utf8))
    }

    @Test func aCharacterDeviceIsRefused() {
        expectRefusal("/dev/null", "a character device") { _ = try MappedFile(path: "/dev/null") }
        expectRefusal("/dev/null", "a character device") { _ = try ModelLocation(path: "/dev/null") }
    }

    @Test func aDirectoryIsNotAFile() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = #expect(throws: ModelFormatError.self) { _ = try RegularFile.contents(atPath: directory) }
        #expect(error?.localizedDescription.contains("is a directory") == true)
    }

    /// A model directory is checked as a whole before any loader opens one of its files.
    @Test(arguments: ["config.json", "tokenizer.json", "merges.txt", "model.safetensors", "model.safetensors.index.json", "m.gguf"])
    func aModelDirectoryWithAFIFOIsRefused(name: String) throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        if name != "config.json" { try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(directory)/config.json")) }
        let path = try fifo(in: directory, named: name)
        let unblocker = FIFOUnblocker(path: path)
        defer { unblocker.stop() }
        expectRefusal(path, "a FIFO") { _ = try ModelLocation(path: directory) }
        // Other entries (a README FIFO nobody reads, a subdirectory) are none of the loaders' business.
        try FileManager.default.removeItem(atPath: path)
        _ = try fifo(in: directory, named: "README")
        try FileManager.default.createDirectory(atPath: "\(directory)/1_Pooling", withIntermediateDirectories: true)
        #expect(throws: Never.self) { _ = try ModelLocation(path: directory) }
    }

    @Test func regularFilesAreReadWhole() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // several read(2) chunks
        let path = "\(directory)/data.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try RegularFile.contents(atPath: path) == Data(bytes))
        let empty = "\(directory)/empty"
        try Data().write(to: URL(fileURLWithPath: empty))
        #expect(try RegularFile.contents(atPath: empty).isEmpty)
        #expect(throws: ModelFormatError.self) { _ = try RegularFile.contents(atPath: "\(directory)/missing") }
    }
}

/// Opens a FIFO's write end after a long delay, ending an `open` for reading that a regression left
/// blocked, so such a run fails its checks instead of hanging. A correct run never waits for it.
final class FIFOUnblocker: @unchecked Sendable {
    private let stopped = DispatchSemaphore(value: 0)

    init(path: String) {
        let stopped = stopped
        Thread.detachNewThread {
            while stopped.wait(timeout: .now() + 120) == .timedOut {
                let descriptor = open(path, O_WRONLY | O_NONBLOCK)  // fails at once unless a reader waits
                if descriptor >= 0 { close(descriptor) }
            }
        }
    }

    func stop() { stopped.signal() }
}
