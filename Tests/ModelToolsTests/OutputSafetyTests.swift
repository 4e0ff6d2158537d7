import Foundation
import ModelFormats
import Testing
@testable import ModelTools
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writers produce regular files only and never write over their own inputs (issue 13): `quantize
/// --output` onto the model's shard used to destroy the model, and onto a device node replaced it.
@Suite struct OutputSafetyTests {
    /// A real copy of the quant fixture (a regression would overwrite the copy, never the fixture).
    func copiedModel() throws -> (scratch: String, model: String) {
        let scratch = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: GGUFFixtures.quant, toPath: scratch + "/model")
        return (scratch, scratch + "/model")
    }

    func expectInvalidArgument(containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        let error = #expect(throws: ModelToolsError.self, sourceLocation: sourceLocation) { try body() }
        let message = error?.localizedDescription ?? ""
        #expect(message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["same path", "other spelling", "symlink", "hard link", "config"])
    func theConverterRefusesToWriteOverItsInputs(route: String) throws {
        let (scratch, model) = try copiedModel()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let shard = model + "/model.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: shard))
        var output = shard
        switch route {
        case "other spelling": output = model + "/./../model/model.safetensors"
        case "symlink":
            output = scratch + "/link.gguf"
            try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: shard)
        case "hard link":
            output = scratch + "/hard.gguf"
            try #require(link(shard, output) == 0)
        case "config": output = model + "/config.json"
        default: break
        }
        expectInvalidArgument(containing: "is the input file") {
            try GGUFConverter().convert(modelDirectory: model, fileType: .q8_0, output: output)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: shard)) == original)
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
        // The untouched copy still converts, to a fresh path beside it.
        try GGUFConverter().convert(modelDirectory: model, fileType: .q8_0, output: scratch + "/fresh.gguf")
        #expect(try GGUFFile(path: scratch + "/fresh.gguf").tensors.isEmpty == false)
    }

    @Test func writersLeaveANonRegularDestinationAlone() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let fifo = scratch + "/out"
        try #require(mkfifo(fifo, 0o644) == 0)
        expectInvalidArgument(containing: "exists and is not a regular file (a FIFO)") {
            _ = try SafetensorsWriter(path: fifo, tensors: [TensorLayout(name: "x", dataType: .float32, shape: [1])])
        }
        expectInvalidArgument(containing: "exists and is not a regular file (a FIFO)") {
            _ = try GGUFWriter(path: fifo, metadata: GGUFMetadata(), tensors: [])
        }
        expectInvalidArgument(containing: "exists and is not a regular file (a FIFO)") {
            try GGUFConverter().convert(modelDirectory: GGUFFixtures.quant, fileType: .f16, output: fifo)
        }
        // A link to a device is refused as the device is.
        let deviceLink = scratch + "/null.gguf"
        try FileManager.default.createSymbolicLink(atPath: deviceLink, withDestinationPath: "/dev/null")
        expectInvalidArgument(containing: "(a character device)") {
            _ = try SafetensorsWriter(path: deviceLink, tensors: [])
        }
        var status = stat()
        #expect(lstat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
        #expect(lstat(deviceLink, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK)
        #expect(!FileManager.default.fileExists(atPath: fifo + ".partial"))
    }

    /// A leftover `.partial` from an interrupted run is replaced; a link planted under that name is
    /// removed, never written through.
    @Test func aLeftoverPartialFileOrLinkIsReplacedNotFollowed() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let path = scratch + "/t.safetensors"
        let victim = scratch + "/victim"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: path + ".partial", withDestinationPath: victim)
        let writer = try SafetensorsWriter(path: path, tensors: [TensorLayout(name: "x", dataType: .float32, shape: [1])])
        try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.write($0) }
        try writer.finish()
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == Data("keep".utf8))
        #expect(try SafetensorsFile(path: path).tensors["x"]?.shape == [1])
    }

    @Test func aGGUFInputIsNamedAsUnsupportedRequantization() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let gguf = scratch + "/model.gguf"
        try GGUFConverter().convert(modelDirectory: GGUFFixtures.quant, fileType: .f16, output: gguf)
        for input in [gguf, scratch] {  // the file, and a directory holding just it
            expectInvalidArgument(containing: "converting GGUF to GGUF (requantization) is not supported") {
                try GGUFConverter().convert(modelDirectory: input, fileType: .q8_0, output: scratch + "/again.gguf")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: scratch + "/again.gguf"))
    }

    /// Merging reads config.json and copies support files: a FIFO among them is refused, not waited on.
    @Test(arguments: ["config.json", "tokenizer.json"])
    func mergeRefusesAFIFOAmongItsInputs(name: String) throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let model = scratch + "/a"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for entry in try FileManager.default.contentsOfDirectory(atPath: Fixtures.embedding) {
            try FileManager.default.createSymbolicLink(atPath: "\(model)/\(entry)", withDestinationPath: "\(Fixtures.embedding)/\(entry)")
        }
        try FileManager.default.removeItem(atPath: "\(model)/\(name)")
        try #require(mkfifo("\(model)/\(name)", 0o644) == 0)
        let unblocker = FIFOUnblocker(path: "\(model)/\(name)")
        defer { unblocker.stop() }
        let error = #expect(throws: (any Error).self) {
            try CheckpointMerger().merge([URL(fileURLWithPath: model), URL(fileURLWithPath: Fixtures.embedding)], method: .slerp(t: 0.5), output: URL(fileURLWithPath: scratch + "/out"))
        }
        let message = (error as? LocalizedError)?.errorDescription ?? ""
        #expect(message.contains("not a regular file (a FIFO)"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: scratch + "/out"))
    }

    @Test func identitiesSeeThroughLinks() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/a"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createSymbolicLink(atPath: scratch + "/s", withDestinationPath: file)
        try #require(link(file, scratch + "/h") == 0)
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch + "/copy"))
        let identity = FileIdentity(path: file)
        #expect(identity != nil)
        #expect(FileIdentity(path: scratch + "/s") == identity)
        #expect(FileIdentity(path: scratch + "/h") == identity)
        #expect(FileIdentity(path: scratch + "/copy") != identity)
        #expect(FileIdentity(path: scratch + "/missing") == nil)
        #expect(throws: Never.self) { try OutputPath.requireWritable(scratch + "/copy", inputs: [file]) }
        #expect(throws: Never.self) { try OutputPath.requireWritable(scratch + "/new", inputs: [scratch]) }
        #expect(throws: ModelToolsError.self) { try OutputPath.requireWritable(scratch + "/h", inputs: [scratch + "/s"]) }
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
