import Foundation
import ModelFormats
import Qwen3Embedding
import Testing
@testable import ModelTools

/// The perturbed copies, written once per test run and shared.
struct PerturbedModels: Sendable {
    let directory: String
    func path(_ model: String, copy k: Int) -> String { (directory as NSString).appendingPathComponent("\(model)-\(k)") }

    static let shared: Result<PerturbedModels, any Error> = Result {
        let directory = try temporaryDirectory()
        for (model, source) in [("tiny-qwen3-embedding", Fixtures.embedding), ("tiny-qwen3-reranker", Fixtures.reranker)] {
            for k in 1...2 {
                try Perturbation.writeCopy(of: source, copy: UInt64(k), to: (directory as NSString).appendingPathComponent("\(model)-\(k)"))
            }
        }
        return PerturbedModels(directory: directory)
    }
}

@Suite struct MergeTests {
    let models: PerturbedModels
    let expected: [String: Any]

    init() throws {
        models = try PerturbedModels.shared.get()
        expected = try Fixtures.expected()
    }

    /// The perturbed copies equal the script's bit for bit (else every comparison below would be moot).
    @Test func perturbedCopiesMatchTheFixtureScript() throws {
        let perturbed = try #require(expected["perturbed"] as? [String: [String: [String: String]]])
        for (model, copies) in perturbed {
            for (k, digests) in copies {
                let checkpoint = try SafetensorsCheckpoint(directory: models.path(model, copy: Int(k)!))
                #expect(checkpoint.tensorNames == digests.keys.sorted())
                for (name, sha) in digests {
                    #expect(digest(try #require(checkpoint.tensor(named: name))) == sha, "\(model) copy \(k) \(name)")
                }
            }
        }
    }

    @Test(arguments: ["embedding-slerp-0.5", "reranker-slerp-0.3", "embedding-linear-1-2-3", "reranker-linear-0.75-0.25"])
    func mergeMatchesTheNumpyReference(_ merge: String) throws {
        let merges = try #require(expected["merges"] as? [String: [String: Any]])
        let reference = try #require(merges[merge])
        let model = try #require(reference["model"] as? String)
        let inputCount = try #require(reference["inputs"] as? Int)
        let source = model == "tiny-qwen3-embedding" ? Fixtures.embedding : Fixtures.reranker
        let inputs = [source, models.path(model, copy: 1), models.path(model, copy: 2)].prefix(inputCount)
        let method: MergeMethod = reference["method"] as? String == "slerp"
            ? .slerp(t: try #require(reference["parameter"] as? Double))
            : .linear(weights: try #require(reference["parameter"] as? [Double]))
        let output = (try temporaryDirectory() as NSString).appendingPathComponent("merged")
        defer { try? FileManager.default.removeItem(atPath: (output as NSString).deletingLastPathComponent) }

        let summary = try CheckpointMerger().merge(Array(inputs).map { URL(fileURLWithPath: $0) }, method: method, output: URL(fileURLWithPath: output))

        let tensors = try #require(reference["tensors"] as? [String: [String: Any]])
        let merged = try SafetensorsCheckpoint(directory: output)
        #expect(merged.tensorNames == tensors.keys.sorted())
        #expect(summary.tensorCount == tensors.count)
        #expect(summary.linearFallbacks == tensors.filter { $0.value["slerp_fallback"] as? Bool == true }.keys.sorted())
        let small = try SafetensorsFile(path: (Fixtures.merge as NSString).appendingPathComponent("\(merge).safetensors"))
        var compared = 0
        for (name, record) in tensors {
            let tensor = try #require(merged.tensor(named: name))
            #expect(tensor.shape == record["shape"] as? [Int], "\(name)")
            let dtype: [String: TensorDataType] = ["bfloat16": .bfloat16, "float32": .float32, "float16": .float16]
            #expect(tensor.dataType == dtype[record["dtype"] as? String ?? ""], "\(name)")
            // Small tensors element by element (a readable failure), every tensor by digest (exact bytes).
            if let full = small.tensors[name] {
                let (got, want) = (tensor.floats(), full.floats())
                let differing = zip(got, want).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                #expect(differing == 0, "\(merge) \(name): \(differing) of \(want.count) elements differ")
                compared += 1
            }
            #expect(digest(tensor) == record["sha256"] as? String, "\(merge) \(name)")
        }
        #expect(compared == small.tensors.count && compared > 0)

        // Same shard layout as the first input, support files copied byte for byte.
        let first = try SafetensorsCheckpoint(directory: inputs[inputs.startIndex])
        #expect(Set(merged.files.keys) == Set(first.files.keys))
        for file in try FileManager.default.contentsOfDirectory(atPath: source) where !file.hasSuffix(".safetensors") && !file.hasSuffix(".index.json") {
            #expect(FileManager.default.contentsEqual(atPath: (source as NSString).appendingPathComponent(file),
                                                      andPath: (output as NSString).appendingPathComponent(file)), "\(file)")
        }
        if first.files.count > 1 {
            let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(output)/model.safetensors.index.json"))) as? [String: Any]
            let map = index?["weight_map"] as? [String: String]
            #expect(map?.count == tensors.count)
            #expect(map?.allSatisfy { merged.files[$0.value]?.tensors[$0.key] != nil } == true)
        }
    }

    @Test func slerpEndpointsReproduceTheInputs() throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let copy = models.path("tiny-qwen3-reranker", copy: 1)
        for (t, source) in [(0.0, Fixtures.reranker), (1.0, copy)] {
            let output = (work as NSString).appendingPathComponent("t\(t)")
            try CheckpointMerger().merge([URL(fileURLWithPath: Fixtures.reranker), URL(fileURLWithPath: copy)], method: .slerp(t: t), output: URL(fileURLWithPath: output))
            let (merged, original) = (try SafetensorsCheckpoint(directory: output), try SafetensorsCheckpoint(directory: source))
            for name in original.tensorNames {
                #expect(digest(merged.tensor(named: name)!) == digest(original.tensor(named: name)!), "t=\(t) \(name)")
            }
        }
    }

    @Test func mergedModelLoadsAndEmbeds() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let output = (work as NSString).appendingPathComponent("merged")
        try CheckpointMerger().merge([URL(fileURLWithPath: Fixtures.embedding), URL(fileURLWithPath: models.path("tiny-qwen3-embedding", copy: 1))], method: .slerp(t: 0.5), output: URL(fileURLWithPath: output))
        let texts = ["The capital of China is Beijing.", "Gravity is a force."]
        let merged = try await Embedder(modelAt: URL(fileURLWithPath: output)).embed(texts)
        let original = try await Embedder(modelAt: URL(fileURLWithPath: Fixtures.embedding)).embed(texts)
        #expect(merged.count == 2 && merged.allSatisfy { $0.count == 40 })
        for vector in merged {
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5 && vector.allSatisfy(\.isFinite))
        }
        // The merge moved the model: its vectors are near the original's but not equal to them.
        for (a, b) in zip(merged, original) {
            let cosine = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(cosine < 0.99999 && cosine > -1.0001, "cosine \(cosine)")
        }
    }

    /// Models in the Hugging Face cache are relative symlinks into blobs/: the output holds real files.
    @Test func symlinkedInputsAreCopiedAsFiles() throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let blobs = "\(work)/blobs", snapshot = "\(work)/snapshots/abc"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.reranker)
        for name in names {
            try FileManager.default.copyItem(atPath: "\(Fixtures.reranker)/\(name)", toPath: "\(blobs)/blob-\(name)")
            try FileManager.default.createSymbolicLink(atPath: "\(snapshot)/\(name)", withDestinationPath: "../../blobs/blob-\(name)")
        }
        let output = "\(work)/merged"
        try CheckpointMerger().merge([URL(fileURLWithPath: snapshot), URL(fileURLWithPath: snapshot)], method: .linear(weights: [1, 3]), output: URL(fileURLWithPath: output))
        for name in names where !name.hasSuffix(".safetensors") {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(output)/\(name)")
            #expect(attributes[.type] as? FileAttributeType == .typeRegular, "\(name)")
            #expect(FileManager.default.contentsEqual(atPath: "\(output)/\(name)", andPath: "\(Fixtures.reranker)/\(name)"), "\(name)")
        }
        // Merging a checkpoint with itself reproduces it exactly (fp32: (1·x + 3·x) / 4 = x).
        let (merged, original) = (try SafetensorsCheckpoint(directory: output), try SafetensorsCheckpoint(directory: Fixtures.reranker))
        for name in original.tensorNames {
            #expect(digest(merged.tensor(named: name)!) == digest(original.tensor(named: name)!), "\(name)")
        }
    }

    @Test func incompatibleCheckpointsAreRefused() throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let output = (work as NSString).appendingPathComponent("out")
        let merger = CheckpointMerger()

        #expect(throws: ModelToolsError.architectureMismatch(
            key: "hidden_size", first: Fixtures.embedding, firstValue: "40", other: Fixtures.reranker, otherValue: "8")) {
            try merger.merge([URL(fileURLWithPath: Fixtures.embedding), URL(fileURLWithPath: Fixtures.reranker)], method: .slerp(t: 0.5), output: URL(fileURLWithPath: output))
        }
        // Same configuration, one tensor reshaped / one tensor missing.
        let reshaped = (work as NSString).appendingPathComponent("reshaped")
        let missing = (work as NSString).appendingPathComponent("missing")
        let source = try SafetensorsFile(path: "\(Fixtures.reranker)/model.safetensors")
        for (directory, edit) in [(reshaped, "reshape"), (missing, "drop")] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(Fixtures.reranker)/config.json", toPath: "\(directory)/config.json")
            var layouts = source.tensors.values.sorted { $0.name < $1.name }.map { TensorLayout(name: $0.name, dataType: $0.dataType, shape: $0.shape) }
            if edit == "drop" { layouts.removeAll { $0.name == "model.norm.weight" } }
            if edit == "reshape", let index = layouts.firstIndex(where: { $0.name == "model.norm.weight" }) { layouts[index].shape = [2, 4] }
            let writer = try SafetensorsWriter(path: "\(directory)/model.safetensors", tensors: layouts)
            for layout in layouts { try writer.write(source.tensors[layout.name]!.data) }
            try writer.finish()
        }
        #expect(throws: ModelToolsError.shapeMismatch(tensor: "model.norm.weight", first: Fixtures.reranker, firstShape: [8], other: reshaped, otherShape: [2, 4])) {
            try merger.merge([URL(fileURLWithPath: Fixtures.reranker), URL(fileURLWithPath: reshaped)], method: .linear(weights: [1, 1]), output: URL(fileURLWithPath: output))
        }
        #expect(throws: ModelToolsError.tensorMissing(tensor: "model.norm.weight", presentIn: Fixtures.reranker, missingFrom: missing)) {
            try merger.merge([URL(fileURLWithPath: Fixtures.reranker), URL(fileURLWithPath: missing)], method: .linear(weights: [1, 1]), output: URL(fileURLWithPath: output))
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).sorted() == ["missing", "reshaped"], "no staging folder left behind")
    }

    @Test func badRequestsAreRefused() throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let merger = CheckpointMerger()
        let a = Fixtures.reranker, b = models.path("tiny-qwen3-reranker", copy: 1), c = models.path("tiny-qwen3-reranker", copy: 2)
        let output = "\(work)/out"
        for (inputs, method) in [([a, b, c], MergeMethod.slerp(t: 0.5)), ([a], .linear(weights: [1])), ([a, b], .slerp(t: 1.5)),
                                 ([a, b], .linear(weights: [1])), ([a, b], .linear(weights: [-1, 2])), ([a, b], .linear(weights: [0, 0]))] {
            #expect(throws: ModelToolsError.self, "\(method) on \(inputs.count)") { try merger.merge(inputs.map { URL(fileURLWithPath: $0) }, method: method, output: URL(fileURLWithPath: output)) }
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(output)/keep.txt"))
        #expect(throws: ModelToolsError.invalidArgument("the output directory \(output) is not empty")) {
            try merger.merge([URL(fileURLWithPath: a), URL(fileURLWithPath: b)], method: .slerp(t: 0.5), output: URL(fileURLWithPath: output))
        }
        #expect(throws: ModelToolsError.self) { try merger.merge([URL(fileURLWithPath: a), URL(fileURLWithPath: b)], method: .slerp(t: 0.5), output: URL(fileURLWithPath: b)) }
        #expect(try String(contentsOfFile: "\(output)/keep.txt", encoding: .utf8) == "x")
    }
}
