import Foundation
import Testing
@testable import ModelFormats

/// Builds safetensors files byte by byte, so tests can write valid files and damage them precisely.
struct SafetensorsWriter {
    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: [UInt8]
    }
    var entries: [Entry] = []
    var metadata: [String: String]? = nil

    mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        entries.append(Entry(name: name, dtype: "F32", shape: shape, bytes: floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }))
    }
    mutating func add(_ name: String, halfBits: [UInt16], dtype: String, shape: [Int]) {
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: halfBits.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    }

    /// The JSON header and data section.
    func header(offsets overrides: [String: [Int]] = [:]) -> (String, [UInt8]) {
        var fields: [String] = []
        if let metadata {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }
            fields.append("\"__metadata__\": {\(pairs.joined(separator: ", "))}")
        }
        var data: [UInt8] = []
        for entry in entries {
            let begin = data.count
            data += entry.bytes
            let offsets = overrides[entry.name] ?? [begin, data.count]
            fields.append("\"\(entry.name)\": {\"dtype\": \"\(entry.dtype)\", \"shape\": \(entry.shape), \"data_offsets\": \(offsets)}")
        }
        return ("{" + fields.joined(separator: ", ") + "}", data)
    }

    func bytes() -> [UInt8] {
        let (json, data) = header()
        return Self.file(header: json, data: data)
    }

    static func file(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        let length = declaredLength ?? UInt64(headerBytes.count)
        return withUnsafeBytes(of: length.littleEndian, Array.init) + headerBytes + data
    }
}

func write(_ bytes: [UInt8], name: String = "model.safetensors", in directory: URL? = nil) throws -> String {
    let folder = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

@Suite struct SafetensorsTests {
    @Test func readsEveryDtypeExactly() throws {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        let floats: [Float] = [1.5, -0.0, .infinity, -.infinity, 3.4e38, Float.leastNonzeroMagnitude, 0.1]
        writer.add("layers.0.weight", floats: floats, shape: [7])
        // bf16: 1.0, -2.0, +inf, the smallest subnormal.
        writer.add("model.norm.weight", halfBits: [0x3F80, 0xC000, 0x7F80, 0x0001], dtype: "BF16", shape: [2, 2])
        // f16: 1.0, -2.0, 65504 (max), smallest subnormal, -inf, NaN.
        writer.add("f16", halfBits: [0x3C00, 0xC000, 0x7BFF, 0x0001, 0xFC00, 0x7E00], dtype: "F16", shape: [3, 2])
        writer.add("empty", floats: [], shape: [0, 4])
        writer.add("scalar", floats: [42], shape: [])
        let file = try SafetensorsFile(path: write(writer.bytes()))
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensors.count == 5)
        let f32 = try #require(file.tensors["layers.0.weight"])
        #expect(f32.floats().map(\.bitPattern) == floats.map(\.bitPattern))
        let bf16 = try #require(file.tensors["model.norm.weight"])
        #expect(bf16.dataType == .bfloat16 && bf16.shape == [2, 2] && bf16.data.count == 8)
        #expect(bf16.floats() == [1, -2, .infinity, Float(bitPattern: 0x0001_0000)])
        let f16 = try #require(file.tensors["f16"]).floats()
        #expect(Array(f16[0..<5]) == [1, -2, 65504, Float(Float16(bitPattern: 1)), -.infinity])
        #expect(f16[5].isNaN)
        var partial = [Float](repeating: 0, count: 2)
        partial.withUnsafeMutableBufferPointer { f32.copyElements(from: 4, count: 2, into: $0.baseAddress!) }
        #expect(partial == [3.4e38, Float.leastNonzeroMagnitude])
        #expect(file.tensors["empty"]!.elementCount == 0 && file.tensors["empty"]!.floats().isEmpty)
        #expect(file.tensors["scalar"]!.floats() == [42])
    }

    /// A valid file cut at every length must throw, never crash.
    @Test func everyTruncationIsAnError() throws {
        var writer = SafetensorsWriter()
        writer.add("a", floats: [1, 2, 3, 4], shape: [2, 2])
        writer.add("b", halfBits: [1, 2, 3], dtype: "BF16", shape: [3])
        let bytes = writer.bytes()
        _ = try SafetensorsFile(path: write(bytes))
        var errors = 0
        for length in 0..<bytes.count {
            do {
                _ = try SafetensorsFile(path: write(Array(bytes.prefix(length))))
                Issue.record("truncation to \(length) bytes was accepted")
            } catch let error as ModelFormatError {
                errors += 1
                #expect(error.localizedDescription.contains(".safetensors"))
            }
        }
        #expect(errors == bytes.count)
    }

    /// Random corruption of header bytes: each file either loads consistently or throws.
    @Test func mutatedHeadersNeverCrash() throws {
        var writer = SafetensorsWriter()
        writer.add("layers.0.mlp.weight", floats: (0..<24).map(Float.init), shape: [4, 6])
        writer.add("norm", halfBits: [1, 2, 3, 4], dtype: "F16", shape: [4])
        let original = writer.bytes()
        var state: UInt64 = 12345  // a fixed LCG: the same 400 mutations on every run
        var accepted = 0, rejected = 0
        for _ in 0..<400 {
            var bytes = original
            for _ in 0..<(1 + Int(state % 3)) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let position = Int((state >> 33) % UInt64(min(bytes.count, 8 + 160)))
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes[position] = UInt8(truncatingIfNeeded: state >> 40)
            }
            do {
                let file = try SafetensorsFile(path: write(bytes))
                for tensor in file.tensors.values { _ = tensor.floats() }  // every accepted tensor is readable
                accepted += 1
            } catch is ModelFormatError {
                rejected += 1
            }
        }
        #expect(accepted + rejected == 400)
        print("mutated headers: \(accepted) accepted, \(rejected) rejected, 0 crashes")
    }

    @Test(arguments: [
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 0]}}", "begin"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}", "data section"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", "needs 12 bytes"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}}", "shape"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", "shape"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [true], \"data_offsets\": [0, 8]}}", "shape"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 8]}}", "overflows"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", "data_offsets"),
        ("{\"a\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", "unsupported dtype I64"),
        ("{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", "dtype"),
        ("{\"a\": [1, 2]}", "not an object"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "overlap"),
        ("{\"__metadata__\": {\"k\": 1}}", "__metadata__"),
        ("[1, 2, 3]", "not a JSON object"),
        ("{\"a\": ", "not valid JSON"),
    ])
    func invalidHeadersAreNamedErrors(header: String, expectedFragment: String) throws {
        let path = try write(SafetensorsWriter.file(header: header, data: [UInt8](repeating: 0, count: 8)))
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("accepted: \(header)")
        } catch let error as ModelFormatError {
            #expect(error.localizedDescription.contains(expectedFragment), "\(error.localizedDescription)")
            #expect(error.localizedDescription.contains(path))
        }
    }

    @Test func headerLengthBounds() throws {
        let json = "{}"
        for declared: UInt64 in [0, 1 << 40, UInt64.max, 101_000_000, 3] {
            let path = try write(SafetensorsWriter.file(header: json, data: [], declaredLength: declared))
            #expect(throws: ModelFormatError.self) { try SafetensorsFile(path: path) }
        }
        #expect(throws: ModelFormatError.self) { try SafetensorsFile(path: write([1, 2, 3])) }
        #expect(throws: ModelFormatError.self) { try SafetensorsFile(path: write(SafetensorsWriter.file(header: "\u{FF}\u{FE}", data: []))) }
        #expect(throws: ModelFormatError.self) { try SafetensorsFile(path: "/nonexistent/model.safetensors") }
        #expect(throws: ModelFormatError.self) { try SafetensorsFile(path: FileManager.default.temporaryDirectory.path) }
        // An empty header object is a valid file with no tensors.
        #expect(try SafetensorsFile(path: write(SafetensorsWriter.file(header: json, data: []))).tensors.isEmpty)
    }
}

@Suite struct CheckpointTests {
    func shardedDirectory(index: String? = nil) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        var first = SafetensorsWriter()
        first.add("embed_tokens.weight", floats: [1, 2, 3, 4, 5, 6], shape: [3, 2])
        var second = SafetensorsWriter()
        second.add("layers.0.self_attn.q_proj.weight", halfBits: [0x3F80, 0x4000], dtype: "BF16", shape: [1, 2])
        second.add("norm.weight", floats: [1, 1], shape: [2])
        _ = try write(first.bytes(), name: "model-00001-of-00002.safetensors", in: directory)
        _ = try write(second.bytes(), name: "model-00002-of-00002.safetensors", in: directory)
        let defaultIndex = """
        {"metadata": {"total_size": 36}, "weight_map": {
          "embed_tokens.weight": "model-00001-of-00002.safetensors",
          "layers.0.self_attn.q_proj.weight": "model-00002-of-00002.safetensors",
          "norm.weight": "model-00002-of-00002.safetensors"}}
        """
        try (index ?? defaultIndex).write(to: directory.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        return directory
    }

    @Test func readsShardedCheckpoints() throws {
        let checkpoint = try SafetensorsCheckpoint(directory: shardedDirectory().path)
        #expect(checkpoint.tensorNames == ["embed_tokens.weight", "layers.0.self_attn.q_proj.weight", "norm.weight"])
        #expect(try checkpoint.requireTensor(named: "layers.0.self_attn.q_proj.weight", shape: [1, 2]).floats() == [1, 2])
        #expect(checkpoint.tensor(named: "embed_tokens.weight")?.file.path.hasSuffix("model-00001-of-00002.safetensors") == true)
    }

    @Test func shapeMismatchNamesTensorAndShapes() throws {
        let checkpoint = try SafetensorsCheckpoint(directory: shardedDirectory().path)
        do {
            _ = try checkpoint.requireTensor(named: "embed_tokens.weight", shape: [2, 3])
            Issue.record("expected an error")
        } catch {
            let message = error.localizedDescription
            #expect(message.contains("embed_tokens.weight") && message.contains("[3, 2]") && message.contains("[2, 3]"))
        }
        #expect(throws: ModelFormatError.missingTensor(name: "lm_head.weight", directory: checkpoint.directory)) {
            try checkpoint.requireTensor(named: "lm_head.weight", shape: [1])
        }
    }

    @Test func brokenIndexesAreErrors() throws {
        let shard = "model-00002-of-00002.safetensors"
        let cases: [(String, String)] = [
            ("{not json", "not valid JSON"),
            ("[\"weight_map\"]", "not a JSON object"),
            ("{\"weight_map\": {\"x\": \"a.safetensors\", \"x\": \"b.safetensors\"}}", "duplicate key"),
            ("{\"weight_map\": {}}", "weight_map is empty"),
            ("{\"weight_map\": {\"x\": \"/etc/passwd\"}}", "leaves the directory"),
            ("{\"metadata\": {}}", "weight_map"),
            ("{\"weight_map\": {\"x\": 3}}", "not a file name"),
            ("{\"weight_map\": {\"x\": \"../escape.safetensors\"}}", "leaves the directory"),
            ("{\"weight_map\": {\"x\": \"model-00009-of-00009.safetensors\"}}", "model-00009-of-00009.safetensors"),
            ("{\"weight_map\": {\"missing.weight\": \"\(shard)\"}}", "missing.weight"),
        ]
        for (index, fragment) in cases {
            let directory = try shardedDirectory(index: index)
            do {
                _ = try SafetensorsCheckpoint(directory: directory.path)
                Issue.record("accepted index \(index)")
            } catch {
                #expect(error.localizedDescription.contains(fragment), "\(error.localizedDescription)")
            }
        }
    }

    @Test func missingShardIsNamed() throws {
        let directory = try shardedDirectory()
        try FileManager.default.removeItem(at: directory.appendingPathComponent("model-00002-of-00002.safetensors"))
        do {
            _ = try SafetensorsCheckpoint(directory: directory.path)
            Issue.record("expected an error")
        } catch {
            // Names the shard and (deterministically) the first tensor the index maps to it.
            #expect(error.localizedDescription.contains("model-00002-of-00002.safetensors"))
            #expect(error.localizedDescription.contains("layers.0.self_attn.q_proj.weight"))
        }
    }

    @Test func duplicateTensorsAcrossShardsAreRefused() throws {
        let directory = try shardedDirectory(index: """
        {"weight_map": {"embed_tokens.weight": "model-00001-of-00002.safetensors",
                        "layers.0.self_attn.q_proj.weight": "model-00002-of-00002.safetensors"}}
        """)
        var duplicate = SafetensorsWriter()
        duplicate.add("embed_tokens.weight", floats: [0, 0, 0, 0, 0, 0], shape: [3, 2])
        duplicate.add("layers.0.self_attn.q_proj.weight", halfBits: [0, 0], dtype: "BF16", shape: [1, 2])
        _ = try write(duplicate.bytes(), name: "model-00002-of-00002.safetensors", in: directory)
        #expect(throws: ModelFormatError.self) { try SafetensorsCheckpoint(directory: directory.path) }
    }

    @Test func singleFileAndEmptyDirectories() throws {
        var writer = SafetensorsWriter()
        writer.add("w", floats: [1], shape: [1])
        let path = try write(writer.bytes(), name: "weights.safetensors")
        let directory = (path as NSString).deletingLastPathComponent
        #expect(try SafetensorsCheckpoint(directory: directory).tensorNames == ["w"])
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(throws: ModelFormatError.noCheckpoint(directory: empty.path)) { try SafetensorsCheckpoint(directory: empty.path) }
        #expect(throws: ModelFormatError.self) { try SafetensorsCheckpoint(directory: "/nonexistent") }
    }
}
