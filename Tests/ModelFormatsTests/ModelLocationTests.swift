import Foundation
import Testing
@testable import ModelFormats

/// Telling a Hugging Face directory from a GGUF file, including a downloaded GGUF repository.
@Suite struct ModelLocationTests {
    /// A fresh scratch directory, removed by the caller.
    func scratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("model-location-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func fileWithTheMagicIsGGUF() throws {
        #expect(try ModelLocation(path: GGUFFixtures.validV3) == .gguf(GGUFFixtures.validV3))
    }

    @Test func directoryWithConfigIsAHuggingFaceDirectory() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("{}".utf8).write(to: directory.appendingPathComponent("config.json"))
        // A GGUF beside config.json does not change what the directory is.
        try FileManager.default.copyItem(atPath: GGUFFixtures.validV3, toPath: directory.appendingPathComponent("m.gguf").path)
        #expect(try ModelLocation(path: directory.path) == .directory(directory.path))
    }

    @Test func directoryWithOneGGUFAndNoConfigIsThatFile() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("Qwen3-Embedding-0.6B-Q8_0.gguf").path
        try FileManager.default.copyItem(atPath: GGUFFixtures.validV3, toPath: file)
        try Data("# readme".utf8).write(to: directory.appendingPathComponent("README.md"))
        #expect(try ModelLocation(path: directory.path) == .gguf(file))
    }

    @Test func directoryWithSeveralGGUFsAndNoConfigIsAnErrorNamingThem() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["a-Q8_0.gguf", "b-Q4_K_M.gguf"] {
            try FileManager.default.copyItem(atPath: GGUFFixtures.validV3, toPath: directory.appendingPathComponent(name).path)
        }
        let error = #expect(throws: ModelFormatError.self) { try ModelLocation(path: directory.path) }
        #expect(error.map { "\($0)" }?.contains("a-Q8_0.gguf, b-Q4_K_M.gguf") == true)
    }

    @Test func otherFilesAndMissingPathsAreErrors() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let notAModel = directory.appendingPathComponent("model.safetensors")
        try Data("not a gguf".utf8).write(to: notAModel)
        #expect(throws: ModelFormatError.self) { try ModelLocation(path: notAModel.path) }
        #expect(throws: ModelFormatError.self) { try ModelLocation(path: directory.appendingPathComponent("missing").path) }
        // A directory that is neither (no config, no GGUF) is left to the directory loader to report.
        #expect(try ModelLocation(path: directory.path) == .directory(directory.path))
    }
}
