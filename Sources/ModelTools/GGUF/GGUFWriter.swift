import Foundation
import ModelFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where one tensor goes in a GGUF file being written.
public struct GGUFTensorLayout: Sendable, Equatable {
    /// The tensor's name (at most 63 bytes of UTF-8, ggml's `GGML_MAX_NAME` minus the terminator).
    public var name: String
    /// Element or block type.
    public var type: GGMLType
    /// Dimensions in ggml order: `dimensions[0]` is the row length (PyTorch's last dimension).
    public var dimensions: [Int]

    /// Creates a layout entry.
    public init(name: String, type: GGMLType, dimensions: [Int]) {
        self.name = name
        self.type = type
        self.dimensions = dimensions
    }

    /// Number of values.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Number of rows (every dimension but the first).
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }

    /// Bytes of data (0 when the row length is not a whole number of blocks, which `GGUFWriter` refuses).
    public var byteCount: Int { (type.rowByteCount(dimensions.first ?? 0) ?? 0) * rowCount }
}

/// GGUF metadata: key-value pairs in the order they are written, keys unique.
public struct GGUFMetadata: Sendable {
    /// The pairs, in file order.
    public private(set) var entries: [(key: String, value: GGUFValue)] = []

    /// Empty metadata.
    public init() {}

    /// Metadata with `entries` in order; a repeated key keeps its first position and its last value.
    public init(_ entries: [(String, GGUFValue)]) {
        for (key, value) in entries { self[key] = value }
    }

    /// The value for `key`; assigning replaces it in place or appends it, assigning nil removes it.
    public subscript(key: String) -> GGUFValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            let index = entries.firstIndex { $0.key == key }
            switch (index, newValue) {
            case (let index?, let value?): entries[index].value = value
            case (let index?, nil): entries.remove(at: index)
            case (nil, let value?): entries.append((key, value))
            case (nil, nil): break
            }
        }
    }

    /// The keys, in file order.
    public var keys: [String] { entries.map(\.key) }
}

/// Writes a GGUF version 3 file (little-endian) tensor by tensor, so outputs larger than memory can be
/// produced: the header (metadata and every tensor's type, shape and offset) is written first, then the
/// tensors' bytes in layout order, streamed by the caller in pieces of any size.
///
/// Layout as the GGUF specification and llama.cpp's `gguf.cpp`: magic `GGUF`, version, tensor and
/// key-value counts (u64), the key-value pairs, the tensor infos (name, dimension count, u64 dimensions in
/// ggml order, type, offset relative to the data section), zero padding to the alignment, then the data,
/// each tensor starting at a multiple of the alignment (32 unless `general.alignment` says otherwise).
/// The file is written as `<path>.partial` and renamed into place by `finish()`, so an interrupted
/// conversion never leaves a file llama.cpp would try to load.
public final class GGUFWriter {
    /// Alignment llama.cpp assumes when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// The only version written.
    public static let version: UInt32 = 3

    /// The final path.
    public let path: String
    /// Tensors in the order their data is expected.
    public let tensors: [GGUFTensorLayout]
    /// Alignment of the data section and of every tensor in it.
    public let alignment: Int
    private let file: PartialFile
    private var buffer: [UInt8] = []
    private var current = 0
    private var writtenInCurrent = 0

    /// Creates the file and writes its header.
    ///
    /// `alignment` must be a power of two; any other value than 32 is recorded as `general.alignment`
    /// (u32), which `metadata` may also carry itself if it agrees. Tensor names must be unique and
    /// non-empty, shapes have 1…4 non-negative dimensions whose first is a whole number of blocks.
    public init(path: String, metadata: GGUFMetadata, tensors: [GGUFTensorLayout], alignment: Int = GGUFWriter.defaultAlignment) throws {
        self.path = path
        self.tensors = tensors
        self.alignment = alignment
        let header = try Self.header(metadata: metadata, tensors: tensors, alignment: alignment)
        file = try PartialFile(path: path)
        buffer.reserveCapacity(Self.bufferSize)
        buffer += header
        try skipEmptyTensors()
    }

    /// The tensor whose bytes are expected next, or nil when all have been written.
    public var nextTensor: GGUFTensorLayout? { current < tensors.count ? tensors[current] : nil }

    /// Appends bytes of the current tensor; may be called several times per tensor and may span tensors.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var remaining = bytes
        while !remaining.isEmpty {
            guard let tensor = nextTensor else {
                throw ModelToolsError.writeFailed(path: path, reason: "\(remaining.count) bytes past the last tensor")
            }
            let take = min(remaining.count, tensor.byteCount - writtenInCurrent)
            try append(UnsafeRawBufferPointer(rebasing: remaining[..<take]))
            writtenInCurrent += take
            remaining = UnsafeRawBufferPointer(rebasing: remaining[take...])
            if writtenInCurrent == tensor.byteCount { try endTensor() }
        }
    }

    /// Checks that every tensor was written in full, flushes, syncs and renames the file into place.
    public func finish() throws {
        if let tensor = nextTensor {
            throw ModelToolsError.writeFailed(path: path, reason: "tensor \"\(tensor.name)\" got \(writtenInCurrent) of \(tensor.byteCount) bytes")
        }
        try flush()
        try file.commit()
    }

    // MARK: Header

    /// The bytes before the data section: header, metadata, tensor infos and the padding after them.
    public static func header(metadata: GGUFMetadata, tensors: [GGUFTensorLayout], alignment: Int = defaultAlignment) throws -> [UInt8] {
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= Int(UInt32.max) else {
            throw ModelToolsError.invalidArgument("GGUF alignment must be a power of two, got \(alignment)")
        }
        var metadata = metadata
        switch metadata["general.alignment"] {
        case nil:
            if alignment != defaultAlignment { metadata["general.alignment"] = .uint32(UInt32(alignment)) }
        case .uint32(let value)? where Int(value) == alignment:
            break
        case let other?:
            throw ModelToolsError.invalidArgument("metadata general.alignment \(other) disagrees with the writer's alignment \(alignment) (it must be a u32)")
        }
        try validate(tensors)

        var bytes: [UInt8] = []
        append(UInt32(0x4655_4747), to: &bytes)  // "GGUF" read as a little-endian u32
        append(version, to: &bytes)
        append(UInt64(tensors.count), to: &bytes)
        append(UInt64(metadata.entries.count), to: &bytes)
        for (key, value) in metadata.entries {
            guard !key.isEmpty else { throw ModelToolsError.invalidArgument("GGUF metadata keys cannot be empty") }
            append(key, to: &bytes)
            append(value.type.rawValue, to: &bytes)
            try append(value, key: key, to: &bytes)
        }
        var offset = 0
        for tensor in tensors {
            append(tensor.name, to: &bytes)
            append(UInt32(tensor.dimensions.count), to: &bytes)
            for dimension in tensor.dimensions { append(UInt64(dimension), to: &bytes) }
            append(tensor.type.rawValue, to: &bytes)
            append(UInt64(offset), to: &bytes)
            offset += padded(tensor.byteCount, to: alignment)
        }
        bytes += [UInt8](repeating: 0, count: padded(bytes.count, to: alignment) - bytes.count)
        return bytes
    }

    private static func validate(_ tensors: [GGUFTensorLayout]) throws {
        var names = Set<String>()
        for tensor in tensors {
            func invalid(_ reason: String) -> ModelToolsError { .invalidArgument("GGUF tensor \"\(tensor.name)\": \(reason)") }
            guard !tensor.name.isEmpty, tensor.name.utf8.count < 64 else { throw invalid("names must have 1 to 63 bytes") }
            guard names.insert(tensor.name).inserted else { throw invalid("duplicate name") }
            guard (1...4).contains(tensor.dimensions.count) else { throw invalid("ggml tensors have 1 to 4 dimensions, got \(tensor.dimensions)") }
            guard tensor.dimensions.allSatisfy({ $0 >= 0 }) else { throw invalid("negative dimension in \(tensor.dimensions)") }
            guard tensor.type.rowByteCount(tensor.dimensions[0]) != nil else {
                throw invalid("rows of \(tensor.dimensions[0]) values are not whole \(tensor.type.name) blocks of \(tensor.type.blockSize)")
            }
            let (elements, overflow) = tensor.dimensions.reduce((1, false)) { partial, dimension in
                let (product, overflow) = partial.0.multipliedReportingOverflow(by: dimension)
                return (product, partial.1 || overflow)
            }
            guard !overflow, elements <= Int.max / 8 else { throw invalid("shape \(tensor.dimensions) is too large") }
        }
    }

    private static func append(_ value: GGUFValue, key: String, to bytes: inout [UInt8]) throws {
        switch value {
        case .uint8(let v): bytes.append(v)
        case .int8(let v): bytes.append(UInt8(bitPattern: v))
        case .uint16(let v): append(v, to: &bytes)
        case .int16(let v): append(UInt16(bitPattern: v), to: &bytes)
        case .uint32(let v): append(v, to: &bytes)
        case .int32(let v): append(UInt32(bitPattern: v), to: &bytes)
        case .float32(let v): append(v.bitPattern, to: &bytes)
        case .bool(let v): bytes.append(v ? 1 : 0)
        case .string(let v): append(v, to: &bytes)
        case .uint64(let v): append(v, to: &bytes)
        case .int64(let v): append(UInt64(bitPattern: v), to: &bytes)
        case .float64(let v): append(v.bitPattern, to: &bytes)
        case .array(let elementType, let elements):
            append(elementType.rawValue, to: &bytes)
            append(UInt64(elements.count), to: &bytes)
            for (index, element) in elements.enumerated() {
                // Readers trust the declared element type to size every element.
                guard element.type == elementType else {
                    throw ModelToolsError.invalidArgument("GGUF metadata \"\(key)\": element \(index) is not of the array's type \(elementType)")
                }
                try append(element, key: key, to: &bytes)
            }
        }
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A GGUF string: u64 byte length, then UTF-8 without terminator.
    private static func append(_ string: String, to bytes: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }

    static func padded(_ count: Int, to alignment: Int) -> Int {
        (count + alignment - 1) / alignment * alignment
    }

    // MARK: Data

    /// Writes are gathered into this many bytes before each `write(2)`.
    private static let bufferSize = 1 << 22

    private func append(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.bufferSize { try flush() }
        if bytes.count >= Self.bufferSize {
            try file.writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Pads the finished tensor to the alignment and moves on, skipping empty tensors.
    private func endTensor() throws {
        let tensor = tensors[current]
        let padding = Self.padded(tensor.byteCount, to: alignment) - tensor.byteCount
        if padding > 0 { try [UInt8](repeating: 0, count: padding).withUnsafeBytes { try append($0) } }
        current += 1
        writtenInCurrent = 0
        try skipEmptyTensors()
    }

    private func skipEmptyTensors() throws {
        while let tensor = nextTensor, tensor.byteCount == 0 { try endTensor() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try file.writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
