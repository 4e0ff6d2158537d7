import Foundation
import Testing
import TestSupport
@testable import ModelFormats

/// Fixture locations (written by Scripts/make_gguf_reader_fixtures.py).
enum GGUFFixtures {
    static let directory = TestPaths.fixture("gguf")
    static let llamaDirectory = TestPaths.fixture("gguf-llama")
    static let validV3 = directory.appendingPathComponent("valid-v3.gguf").path
    static let validV2 = directory.appendingPathComponent("valid-v2.gguf").path

    static func json(_ name: String) throws -> Any {
        try GoldenFile.jsonObject(at: "gguf/\(name)")
    }
}

/// The goldens' checksum: sum over i of (i + 1) × bits[i], wrapping (see the script's `checksum`).
func checksum(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
    var sum: UInt64 = 0
    for index in values.indices { sum &+= UInt64(values[index].bitPattern) &* UInt64(index + 1) }
    return sum
}

func checksum(_ values: [Float]) -> UInt64 { values.withUnsafeBufferPointer(checksum) }

extension GGMLType {
    /// The type with this printed name (`Q4_K`…).
    init?(named name: String) {
        guard let type = GGMLType.allCases.first(where: { $0.name == name }) else { return nil }
        self = type
    }
}

/// Float32 values from base64 little-endian bytes (the fixtures' encoding).
func floats(base64: String) -> [Float] {
    let data = Data(base64Encoded: base64)!
    return data.withUnsafeBytes { raw in
        (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
    }
}

/// Builds GGUF files byte by byte, so tests can write exactly the (in)valid structure they need.
struct GGUFBuilder {
    struct TensorEntry {
        var name: String
        var dimensions: [UInt64]
        var type: UInt32
        var offset: UInt64
    }

    var version: UInt32 = 3
    /// Keys with their encoded type tag + value.
    var metadata: [(key: String, value: [UInt8])] = []
    var tensors: [TensorEntry] = []
    var alignment = 32
    var data: [UInt8] = []
    var tensorCountOverride: UInt64?
    var metadataCountOverride: UInt64?

    mutating func add(_ key: String, _ value: GGUFValue) { metadata.append((key, Self.encode(value))) }

    mutating func addTensor(_ name: String, _ type: GGMLType, dimensions: [Int], bytes: [UInt8]) {
        while data.count % alignment != 0 { data.append(0) }
        tensors.append(TensorEntry(name: name, dimensions: dimensions.map(UInt64.init), type: type.rawValue, offset: UInt64(data.count)))
        data += bytes
    }

    static func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func string(_ value: String) -> [UInt8] { u64(UInt64(value.utf8.count)) + Array(value.utf8) }

    /// Type tag + payload.
    static func encode(_ value: GGUFValue) -> [UInt8] { u32(value.type.rawValue) + payload(value) }

    static func payload(_ value: GGUFValue) -> [UInt8] {
        switch value {
        case .uint8(let v): return [v]
        case .int8(let v): return [UInt8(bitPattern: v)]
        case .uint16(let v): return withUnsafeBytes(of: v.littleEndian, Array.init)
        case .int16(let v): return withUnsafeBytes(of: v.littleEndian, Array.init)
        case .uint32(let v): return u32(v)
        case .int32(let v): return u32(UInt32(bitPattern: v))
        case .float32(let v): return u32(v.bitPattern)
        case .bool(let v): return [v ? 1 : 0]
        case .string(let v): return string(v)
        case .array(let type, let elements): return u32(type.rawValue) + u64(UInt64(elements.count)) + elements.flatMap(payload)
        case .uint64(let v): return u64(v)
        case .int64(let v): return u64(UInt64(bitPattern: v))
        case .float64(let v): return u64(v.bitPattern)
        }
    }

    /// The header alone (magic through tensor infos, unpadded).
    func header() -> [UInt8] {
        var bytes = Array("GGUF".utf8) + Self.u32(version)
        bytes += Self.u64(tensorCountOverride ?? UInt64(tensors.count))
        bytes += Self.u64(metadataCountOverride ?? UInt64(metadata.count))
        for (key, value) in metadata { bytes += Self.string(key) + value }
        for tensor in tensors {
            bytes += Self.string(tensor.name) + Self.u32(UInt32(tensor.dimensions.count))
            for dimension in tensor.dimensions { bytes += Self.u64(dimension) }
            bytes += Self.u32(tensor.type) + Self.u64(tensor.offset)
        }
        return bytes
    }

    func bytes() -> [UInt8] {
        var bytes = header()
        if !tensors.isEmpty || !data.isEmpty {
            while bytes.count % alignment != 0 { bytes.append(0) }
        }
        return bytes + data
    }
}

/// Writes `bytes` to a fresh temporary `.gguf` file and returns its path.
func writeGGUF(_ bytes: [UInt8], name: String = "model.gguf") throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

/// Opens `bytes` as a GGUF file; returns the error message, or nil if the file was accepted.
func ggufRejection(_ bytes: [UInt8]) throws -> String? {
    let path = try writeGGUF(bytes)
    defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    do {
        _ = try GGUFFile(path: path)
        return nil
    } catch let error as ModelFormatError {
        let message = error.localizedDescription
        #expect(message.contains(path), "message does not name the file: \(message)")
        return message
    }
}
