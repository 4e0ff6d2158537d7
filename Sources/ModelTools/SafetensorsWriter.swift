import Foundation
import ModelFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where one tensor goes in a safetensors file being written.
public struct TensorLayout: Sendable, Equatable {
    /// The tensor's name.
    public var name: String
    /// Element type.
    public var dataType: TensorDataType
    /// Dimensions, outermost first.
    public var shape: [Int]

    /// Creates a layout entry.
    public init(name: String, dataType: TensorDataType, shape: [Int]) {
        self.name = name
        self.dataType = dataType
        self.shape = shape
    }

    /// Bytes of data.
    public var byteCount: Int { shape.reduce(1, *) * dataType.byteWidth }
}

/// Writes a `.safetensors` file tensor by tensor, so that outputs far larger than memory can be produced:
/// the header (every tensor's dtype, shape and offsets) is written first, then each tensor's bytes in
/// header order, streamed by the caller in as many pieces as it likes.
///
/// The layout follows the `safetensors` Python package: `__metadata__` first, the JSON header padded with
/// spaces to a multiple of 8 bytes, data contiguous without gaps. Every tensor must receive exactly its
/// byte count; the file is written as `<path>.partial` and renamed into place by `finish()`.
public final class SafetensorsWriter {
    /// The final path.
    public let path: String
    /// Tensors in the order their data is expected.
    public let tensors: [TensorLayout]
    private let file: PartialFile
    private var current = 0
    private var writtenInCurrent = 0

    /// Creates the file and writes its header. Tensor names must be unique and shapes non-negative.
    public init(path: String, tensors: [TensorLayout], metadata: [String: String] = ["format": "pt"]) throws {
        self.path = path
        self.tensors = tensors
        guard Set(tensors.map(\.name)).count == tensors.count else {
            throw ModelToolsError.invalidArgument("duplicate tensor names for \(path)")
        }
        for tensor in tensors where tensor.shape.contains(where: { $0 < 0 }) || tensor.name == "__metadata__" {
            throw ModelToolsError.invalidArgument("invalid tensor \"\(tensor.name)\" with shape \(tensor.shape) for \(path)")
        }
        file = try PartialFile(path: path)
        var header = Array(Self.header(tensors: tensors, metadata: metadata).utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try file.writeAll($0) }
        try header.withUnsafeBytes { try file.writeAll($0) }
        skipEmptyTensors()
    }

    /// The tensor whose bytes are expected next, or nil when all have been written.
    public var nextTensor: TensorLayout? { current < tensors.count ? tensors[current] : nil }

    /// Appends bytes of the current tensor; may be called several times per tensor.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var remaining = bytes
        while !remaining.isEmpty {
            guard let tensor = nextTensor else {
                throw ModelToolsError.writeFailed(path: path, reason: "\(remaining.count) bytes past the last tensor")
            }
            let take = min(remaining.count, tensor.byteCount - writtenInCurrent)
            try file.writeAll(UnsafeRawBufferPointer(rebasing: remaining[..<take]))
            writtenInCurrent += take
            remaining = UnsafeRawBufferPointer(rebasing: remaining[take...])
            if writtenInCurrent == tensor.byteCount {
                current += 1
                writtenInCurrent = 0
                skipEmptyTensors()
            }
        }
    }

    /// Checks that every tensor was written in full, flushes and renames the file into place.
    public func finish() throws {
        if let tensor = nextTensor {
            throw ModelToolsError.writeFailed(path: path, reason: "tensor \"\(tensor.name)\" got \(writtenInCurrent) of \(tensor.byteCount) bytes")
        }
        try file.commit()
    }

    /// The JSON header: `__metadata__`, then the tensors with contiguous `data_offsets` in the given order.
    static func header(tensors: [TensorLayout], metadata: [String: String]) -> String {
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonStringLiteral($0.key)):\(jsonStringLiteral($0.value))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.byteCount
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonStringLiteral(tensor.name)):{\"dtype\":\"\(tensor.dataType.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        return "{" + entries.joined(separator: ",") + "}"
    }

    private func skipEmptyTensors() {
        while let tensor = nextTensor, tensor.byteCount == 0 { current += 1 }
    }
}
