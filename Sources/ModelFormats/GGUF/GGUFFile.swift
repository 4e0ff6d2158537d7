/// One tensor described in a GGUF file's header, after validation.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name (`token_embd.weight`, `blk.0.attn_q.weight`…).
    public let name: String
    /// The element / block type.
    public let type: GGMLType
    /// Dimensions in ggml order: `dimensions[0]` (`ne0`) is the contiguous row length, the reverse of
    /// the row-major shape PyTorch and safetensors use. Empty for a 0-dimensional (one-element) tensor.
    public let dimensions: [Int]
    /// Absolute byte offset of the data in the file (data section start + the header's relative offset).
    public let offset: Int
    /// Bytes of data: `rows × type.rowByteCount(rowLength)`.
    public let byteCount: Int

    /// Creates a description; `GGUFFile` validates every field before creating one.
    public init(name: String, type: GGMLType, dimensions: [Int], offset: Int, byteCount: Int) {
        self.name = name
        self.type = type
        self.dimensions = dimensions
        self.offset = offset
        self.byteCount = byteCount
    }

    /// Values per row (`ne0`; 1 for a 0-dimensional tensor).
    public var rowLength: Int { dimensions.first ?? 1 }

    /// Number of rows: the product of `dimensions[1...]` (1 for a 1-D or 0-D tensor).
    public var rows: Int { dimensions.dropFirst().reduce(1, *) }

    /// Number of values.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// The row-major shape (outermost first), as `Tensor.shape` and safetensors files give it.
    public var shape: [Int] { dimensions.reversed() }
}

/// The tokenizer a GGUF file carries (`tokenizer.ggml.*`), with the types checked, ready to be passed to
/// `Tokenizer(ggufTokens:…)` (the Tokenizer module does not depend on this one).
public struct GGUFTokenizerMetadata: Sendable, Equatable {
    /// `tokenizer.ggml.model`: "gpt2" for byte-level BPE (Qwen), "llama" for SentencePiece…
    public let model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer ("qwen2" for Qwen2 and Qwen3); empty if absent.
    public let preTokenizer: String
    /// `tokenizer.ggml.tokens`: spelling of each id.
    public let tokens: [String]
    /// `tokenizer.ggml.token_type`: one per token (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte); empty if absent.
    public let tokenTypes: [Int]
    /// `tokenizer.ggml.merges`: BPE merges as "left right", highest priority first; empty if absent.
    public let merges: [String]
    /// `tokenizer.ggml.eos_token_id`.
    public let eosTokenID: Int?
    /// `tokenizer.ggml.padding_token_id`.
    public let paddingTokenID: Int?
    /// `tokenizer.ggml.bos_token_id`.
    public let bosTokenID: Int?
    /// `tokenizer.ggml.add_bos_token` (false if absent).
    public let addBOS: Bool
    /// `tokenizer.ggml.add_eos_token` (false if absent). Embedding models need EOS appended whatever
    /// this says (llama.cpp issue #14252): the caller decides.
    public let addEOS: Bool
}

/// A memory-mapped GGUF file (versions 2 and 3, little-endian), validated completely on opening.
///
/// Layout: `"GGUF"`, version (`UInt32`), tensor count and metadata count (`UInt64`), the metadata
/// key/value pairs, the tensor infos (name, dimension count, dimensions, type, offset relative to the
/// data section), padding to `general.alignment` (default 32), then the data section.
///
/// Every count, length, dimension and offset is checked with overflow-safe arithmetic against the bytes
/// that remain before anything is allocated, so a damaged or hostile header fails fast with a
/// `ModelFormatError` naming the file (and the tensor or key), never a crash or a huge allocation.
/// Tensor data must be aligned, inside the file and non-overlapping; names and keys unique; rows whole
/// blocks. Tensors of known but unsupported types (IQ*, TQ*…) are accepted here, since the file is
/// valid, and rejected by `floatTensor` / `dequantizeRows` with `unsupportedTensorType`.
public final class GGUFFile: @unchecked Sendable {
    /// The format versions this reader accepts. Version 1 (32-bit counts and lengths) predates every
    /// file a current tool writes.
    public static let supportedVersions: ClosedRange<UInt32> = 2...3
    /// Data alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// Deepest accepted nesting of arrays in metadata (real files use none; the format allows any, and
    /// the limit keeps a hostile file from exhausting the stack).
    public static let maximumArrayNesting = 16
    /// Most dimensions a tensor may have (`GGML_MAX_DIMS`).
    public static let maximumDimensions = 4

    /// The file's path.
    public let path: String
    /// Format version (2 or 3).
    public let version: UInt32
    /// Data alignment in bytes (`general.alignment`, a power of two, default 32).
    public let alignment: Int
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset of the data section (the header's end, rounded up to `alignment`). With no
    /// tensors it may lie past the end of the file: writers do not pad a tensor-free file.
    public let dataOffset: Int
    /// The mapping; kept alive by this object and by every `Tensor` handed out.
    public let file: MappedFile
    private let tensorIndex: [String: Int]

    /// Maps and validates `path`.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Validates an already-mapped file.
    public init(file: MappedFile) throws {
        let header = try GGUFHeader(bytes: file.bytes, path: file.path)
        self.file = file
        path = file.path
        version = header.version
        alignment = header.alignment
        metadata = header.metadata
        metadataKeys = header.metadataKeys
        tensors = header.tensors
        dataOffset = header.dataOffset
        tensorIndex = header.tensorIndex
    }

    /// The tensor called `name`, if any.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of `tensor` (possibly unaligned in memory if the file's alignment is small).
    /// Precondition: `tensor` comes from this file.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        precondition(tensor.offset >= 0 && tensor.byteCount >= 0 && tensor.offset <= file.bytes.count - tensor.byteCount,
                     "tensor \(tensor.name) does not belong to \(path)")
        return UnsafeRawBufferPointer(rebasing: file.bytes[tensor.offset..<(tensor.offset + tensor.byteCount)])
    }

    /// An F32, F16 or BF16 tensor as a `Tensor` (shape row-major: `dimensions` reversed), sharing the
    /// mapping. Throws `unsupportedDataType` for quantized types (use `dequantizeRows`) and
    /// `unsupportedTensorType` for types this engine does not support at all.
    public func floatTensor(_ tensor: GGUFTensorInfo) throws -> Tensor {
        try checkBelongs(tensor)
        let dataType: TensorDataType
        switch tensor.type {
        case .f32: dataType = .float32
        case .f16: dataType = .float16
        case .bf16: dataType = .bfloat16
        default:
            guard tensor.type.isSupported else {
                throw ModelFormatError.unsupportedTensorType(path: path, tensor: tensor.name, type: tensor.type.name)
            }
            throw ModelFormatError.unsupportedDataType(path: path, tensor: tensor.name, dataType: tensor.type.name)
        }
        return Tensor(name: tensor.name, dataType: dataType, shape: tensor.shape, file: file, offset: tensor.offset)
    }

    /// Dequantizes rows `start ..< start + count` (each `rowLength` values) of a tensor of any supported
    /// type into `destination` (`count × rowLength` floats), exactly as `GGMLBlocks.dequantize` does.
    /// Rows are everything after the first dimension, so a 2-D `[hidden, vocabulary]` embedding table
    /// has one row per token.
    ///
    /// - Throws: `unsupportedTensorType` for IQ* and other unsupported types; `invalidTensor` if the
    ///   rows lie outside the tensor or the info does not come from this file.
    public func dequantizeRows(of tensor: GGUFTensorInfo, start: Int, count: Int, into destination: UnsafeMutablePointer<Float>) throws {
        try checkBelongs(tensor)
        guard tensor.type.isSupported else {
            throw ModelFormatError.unsupportedTensorType(path: path, tensor: tensor.name, type: tensor.type.name)
        }
        let rows = tensor.rows
        guard start >= 0, count >= 0, start <= rows, count <= rows - start else {
            throw ModelFormatError.invalidTensor(path: path, tensor: tensor.name, reason: "rows \(start) ..< \(start) + \(count) lie outside its \(rows) rows")
        }
        guard count > 0, let rowBytes = tensor.type.rowByteCount(tensor.rowLength), let base = file.bytes.baseAddress else { return }
        GGMLBlocks.dequantize(tensor.type, base + tensor.offset + start * rowBytes, count: count * tensor.rowLength, into: destination)
    }

    /// The whole tensor dequantized to floats, in file order (row after row). For small tensors (norm
    /// weights, biases); large ones should be processed row by row.
    public func floats(of tensor: GGUFTensorInfo) throws -> [Float] {
        let count = tensor.elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { try dequantizeRows(of: tensor, start: 0, count: tensor.rows, into: base) }
            initialized = count
        }
    }

    private func checkBelongs(_ tensor: GGUFTensorInfo) throws {
        guard let index = tensorIndex[tensor.name], tensors[index] == tensor else {
            throw ModelFormatError.invalidTensor(path: path, tensor: tensor.name, reason: "this tensor info does not come from this file")
        }
    }

    // MARK: - Metadata lookups

    /// The value of `key`, or `invalidMetadata` naming the key if it is missing.
    public func requiredValue(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw ModelFormatError.invalidMetadata(path: path, key: key, reason: "missing") }
        return value
    }

    /// An integer value of any integer type (see `GGUFValue.integer`), or `invalidMetadata`.
    public func requiredInteger(_ key: String) throws -> Int {
        let value = try requiredValue(key)
        guard let integer = value.integer else { throw wrongType(key, value, expected: "an integer") }
        return integer
    }

    /// A float or integer value as `Double`, or `invalidMetadata`.
    public func requiredDouble(_ key: String) throws -> Double {
        let value = try requiredValue(key)
        guard let double = value.double else { throw wrongType(key, value, expected: "a number") }
        return double
    }

    /// A string value, or `invalidMetadata`.
    public func requiredString(_ key: String) throws -> String {
        let value = try requiredValue(key)
        guard let string = value.string else { throw wrongType(key, value, expected: "a string") }
        return string
    }

    private func wrongType(_ key: String, _ value: GGUFValue, expected: String) -> ModelFormatError {
        let type = if case .array(let element, _) = value { "an array of \(element.name)" } else { value.type.name }
        return .invalidMetadata(path: path, key: key, reason: "is \(type), expected \(expected)")
    }

    /// The `tokenizer.ggml.*` metadata with its types checked: tokens (required) and merges must be
    /// string arrays, token types an integer array as long as the tokens, ids integers, flags bools.
    public func tokenizerMetadata() throws -> GGUFTokenizerMetadata {
        func optional<T>(_ key: String, _ expected: String, _ extract: (GGUFValue) -> T?) throws -> T? {
            guard let value = metadata[key] else { return nil }
            guard let result = extract(value) else { throw wrongType(key, value, expected: expected) }
            return result
        }
        let model = try requiredString("tokenizer.ggml.model")
        guard let tokens = try optional("tokenizer.ggml.tokens", "an array of strings", \.strings) else {
            throw ModelFormatError.invalidMetadata(path: path, key: "tokenizer.ggml.tokens", reason: "missing")
        }
        let tokenTypes = try optional("tokenizer.ggml.token_type", "an array of integers", \.integers) ?? []
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw ModelFormatError.invalidMetadata(
                path: path, key: "tokenizer.ggml.token_type", reason: "has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        return GGUFTokenizerMetadata(
            model: model,
            preTokenizer: try optional("tokenizer.ggml.pre", "a string", \.string) ?? "",
            tokens: tokens,
            tokenTypes: tokenTypes,
            merges: try optional("tokenizer.ggml.merges", "an array of strings", \.strings) ?? [],
            eosTokenID: try optional("tokenizer.ggml.eos_token_id", "an integer", \.integer),
            paddingTokenID: try optional("tokenizer.ggml.padding_token_id", "an integer", \.integer),
            bosTokenID: try optional("tokenizer.ggml.bos_token_id", "an integer", \.integer),
            addBOS: try optional("tokenizer.ggml.add_bos_token", "a bool", \.bool) ?? false,
            addEOS: try optional("tokenizer.ggml.add_eos_token", "a bool", \.bool) ?? false)
    }
}

/// The parsed and validated header of a GGUF file; separate from `GGUFFile` so that it can be parsed
/// from any buffer (the fuzz tests parse mutants in memory).
struct GGUFHeader {
    let version: UInt32
    let alignment: Int
    let metadata: [String: GGUFValue]
    let metadataKeys: [String]
    let tensors: [GGUFTensorInfo]
    let tensorIndex: [String: Int]
    let dataOffset: Int

    init(bytes: UnsafeRawBufferPointer, path: String) throws(ModelFormatError) {
        var reader = GGUFByteReader(bytes: bytes, path: path)
        guard bytes.count >= 4 else { throw reader.corrupt("file is \(bytes.count) bytes, too short for the GGUF magic") }
        guard bytes[0] == 0x47, bytes[1] == 0x47, bytes[2] == 0x55, bytes[3] == 0x46 else {
            let start = bytes.prefix(4).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
            throw reader.corrupt("no GGUF magic \"GGUF\" at the start (found bytes \(start))")
        }
        reader.position = 4
        let version = try reader.u32("the version")
        if version & 0xFFFF == 0, Self.isSupportedOrOld(version.byteSwapped) {
            throw ModelFormatError.unsupportedFile(
                path: path, reason: "big-endian GGUF (version \(version.byteSwapped)); only little-endian files are read (gguf-convert-endian converts)")
        }
        guard GGUFFile.supportedVersions.contains(version) else {
            throw ModelFormatError.unsupportedFile(
                path: path, reason: "GGUF version \(version) is not supported (this reader reads versions 2 and 3)")
        }
        self.version = version
        let tensorCount = try reader.count("the tensor count", minimumBytesEach: 24)
        let metadataCount = try reader.count("the metadata count", minimumBytesEach: 13)

        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(metadataCount)
        var keys: [String] = []
        keys.reserveCapacity(metadataCount)
        for index in 0..<metadataCount {
            let key = try reader.string("metadata key \(index)")
            guard metadata[key] == nil else { throw reader.corrupt("metadata key \"\(key)\" appears twice") }
            let rawType = try reader.u32("the type of \"\(key)\"")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw reader.corrupt("metadata \"\(key)\" has unknown value type \(rawType)")
            }
            metadata[key] = try reader.value(type, depth: 0, what: "metadata \"\(key)\"")
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = GGUFFile.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let declared) = value else {
                throw ModelFormatError.invalidMetadata(path: path, key: "general.alignment", reason: "is \(value.type.name), expected UINT32")
            }
            guard declared > 0, declared & (declared - 1) == 0 else {
                throw ModelFormatError.invalidMetadata(path: path, key: "general.alignment", reason: "\(declared) is not a power of two")
            }
            alignment = Int(declared)
        }
        self.alignment = alignment

        // Tensor infos: offsets are relative to the data section, whose start is known only at the end.
        var infos: [(name: String, type: GGMLType, dimensions: [Int], relativeOffset: Int, byteCount: Int)] = []
        infos.reserveCapacity(tensorCount)
        var tensorIndex: [String: Int] = [:]
        tensorIndex.reserveCapacity(tensorCount)
        for index in 0..<tensorCount {
            let name = try reader.string("the name of tensor \(index)")
            func invalid(_ reason: String) -> ModelFormatError { .invalidTensor(path: path, tensor: name, reason: reason) }
            guard tensorIndex[name] == nil else { throw invalid("the name appears twice") }
            let dimensionCount = try reader.u32("the dimension count of \"\(name)\"")
            guard dimensionCount <= GGUFFile.maximumDimensions else {
                throw invalid("\(dimensionCount) dimensions (at most \(GGUFFile.maximumDimensions))")
            }
            var dimensions: [Int] = []
            var elements = 1
            for _ in 0..<Int(dimensionCount) {
                let raw = try reader.u64("a dimension of \"\(name)\"")
                guard let dimension = Int(exactly: raw) else { throw invalid("dimension \(raw) is too large") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw invalid("dimensions \(dimensions + [dimension]) overflow") }
                elements = product
                dimensions.append(dimension)
            }
            let rawType = try reader.u32("the type of \"\(name)\"")
            guard let type = GGMLType(rawValue: rawType) else { throw invalid("unknown ggml type \(rawType)") }
            let rawOffset = try reader.u64("the offset of \"\(name)\"")
            let rowLength = dimensions.first ?? 1
            guard let rowBytes = type.rowByteCount(rowLength) else {
                throw invalid("row length \(rowLength) is not a whole number of \(type.name) blocks of \(type.blockSize)")
            }
            // Rows separately: with a zero row length the element count is 0 whatever the other
            // dimensions are, but `rows` must still be computable without overflow.
            var rows = 1
            for dimension in dimensions.dropFirst() {
                let (product, overflow) = rows.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw invalid("dimensions \(dimensions) overflow") }
                rows = product
            }
            let (byteCount, overflow) = rows.multipliedReportingOverflow(by: rowBytes)
            guard !overflow, byteCount <= bytes.count else {
                throw invalid("\(type.name) data of dimensions \(dimensions) needs \(overflow ? "more than 2^63" : String(byteCount)) bytes, more than the \(bytes.count)-byte file")
            }
            guard let relativeOffset = Int(exactly: rawOffset), relativeOffset <= bytes.count else {
                throw invalid("data offset \(rawOffset) lies past the end of the \(bytes.count)-byte file")
            }
            guard relativeOffset % alignment == 0 else {
                throw invalid("data offset \(relativeOffset) is not a multiple of the alignment \(alignment)")
            }
            tensorIndex[name] = index
            infos.append((name, type, dimensions, relativeOffset, byteCount))
        }

        // The data section starts at the end of the header, rounded up to the alignment. Everything
        // here is at most the file size plus an alignment below 2^32: no overflow on 64-bit Int.
        let headerEnd = reader.position
        dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(infos.count)
        var ranges: [(range: Range<Int>, name: String)] = []
        for info in infos {
            let offset = dataOffset + info.relativeOffset
            guard offset <= bytes.count, info.byteCount <= bytes.count - offset else {
                throw ModelFormatError.invalidTensor(
                    path: path, tensor: info.name,
                    reason: "data at bytes \(offset) ..< \(offset + info.byteCount) runs past the end of the \(bytes.count)-byte file (truncated?)")
            }
            tensors.append(GGUFTensorInfo(name: info.name, type: info.type, dimensions: info.dimensions, offset: offset, byteCount: info.byteCount))
            if info.byteCount > 0 { ranges.append((offset..<(offset + info.byteCount), info.name)) }
        }
        ranges.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.range.lowerBound < previous.range.upperBound {
            throw reader.corrupt("the data of tensors \"\(previous.name)\" and \"\(next.name)\" overlap")
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    /// Versions that, byte-swapped, suggest a big-endian file rather than a garbage version number.
    private static func isSupportedOrOld(_ version: UInt32) -> Bool { (1...3).contains(version) }
}

/// Bounds-checked little-endian reads from a GGUF header; every failure is a `ModelFormatError`
/// saying what was being read and where.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    var remaining: Int { bytes.count - position }

    func corrupt(_ reason: String) -> ModelFormatError { .corruptFile(path: path, reason: reason) }

    private func need(_ count: Int, _ what: @autoclosure () -> String) throws(ModelFormatError) {
        guard count <= remaining else {
            throw corrupt("\(what()) at byte \(position) needs \(count) bytes but the file ends after \(remaining) (truncated?)")
        }
    }

    mutating func u8(_ what: @autoclosure () -> String) throws(ModelFormatError) -> UInt8 {
        try need(1, what())
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16(_ what: @autoclosure () -> String) throws(ModelFormatError) -> UInt16 {
        try need(2, what())
        defer { position += 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(ModelFormatError) -> UInt32 {
        try need(4, what())
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    mutating func u64(_ what: @autoclosure () -> String) throws(ModelFormatError) -> UInt64 {
        try need(8, what())
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    /// A 64-bit count of items that each occupy at least `minimumBytesEach` bytes: rejected unless that
    /// many items could fit in the rest of the file, so callers may reserve capacity for it.
    mutating func count(_ what: @autoclosure () -> String, minimumBytesEach: Int) throws(ModelFormatError) -> Int {
        let start = position
        let raw = try u64(what())
        guard raw <= UInt64(remaining / minimumBytesEach) else {
            throw corrupt("\(what()) at byte \(start) is \(raw), but the \(remaining) bytes left hold at most \(remaining / minimumBytesEach)")
        }
        return Int(raw)
    }

    /// A length-prefixed string, which must be valid UTF-8.
    mutating func string(_ what: @autoclosure () -> String) throws(ModelFormatError) -> String {
        let start = position
        let length = try u64("the length of \(what())")
        guard length <= UInt64(remaining) else {
            throw corrupt("\(what()) at byte \(start) claims \(length) bytes but the file ends after \(remaining) (truncated?)")
        }
        let range = position..<(position + Int(length))
        guard let string = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw corrupt("\(what()) at byte \(start) is not valid UTF-8")
        }
        position = range.upperBound
        return string
    }

    mutating func value(_ type: GGUFValueType, depth: Int, what: @autoclosure () -> String) throws(ModelFormatError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try u8(what()))
        case .int8: return .int8(Int8(bitPattern: try u8(what())))
        case .uint16: return .uint16(try u16(what()))
        case .int16: return .int16(Int16(bitPattern: try u16(what())))
        case .uint32: return .uint32(try u32(what()))
        case .int32: return .int32(Int32(bitPattern: try u32(what())))
        case .float32: return .float32(Float(bitPattern: try u32(what())))
        case .uint64: return .uint64(try u64(what()))
        case .int64: return .int64(Int64(bitPattern: try u64(what())))
        case .float64: return .float64(Double(bitPattern: try u64(what())))
        case .bool:
            let start = position
            let byte = try u8(what())
            guard byte <= 1 else { throw corrupt("\(what()) at byte \(start) is a BOOL with value \(byte) (only 0 and 1 are valid)") }
            return .bool(byte == 1)
        case .string:
            return .string(try string(what()))
        case .array:
            guard depth < GGUFFile.maximumArrayNesting else {
                throw corrupt("\(what()) nests arrays deeper than \(GGUFFile.maximumArrayNesting) levels")
            }
            let rawType = try u32("the element type of \(what())")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw corrupt("\(what()) is an array of unknown value type \(rawType)")
            }
            let count = try count("the length of \(what()) (an array of \(elementType.name))", minimumBytesEach: elementType.minimumByteCount)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(try value(elementType, depth: depth + 1, what: "\(what())[\(index)]"))
            }
            return .array(elementType, elements)
        }
    }
}

extension GGUFFile {
    /// llama.cpp's name for the file's `general.file_type` (`llama_ftype`), as llama-quantize prints it:
    /// the quantization mix of the whole file ("Q4_K_M"), which no single tensor's type tells. Nil when
    /// the key is absent or the number unknown.
    public var fileTypeName: String? {
        metadata["general.file_type"]?.integer.flatMap { Self.fileTypeNames[$0] }
    }

    private static let fileTypeNames: [Int: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
        12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
        19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
        26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    ]
}
