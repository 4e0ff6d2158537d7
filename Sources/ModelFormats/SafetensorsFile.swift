import Foundation

/// One `.safetensors` file: an 8-byte little-endian header length, a JSON header describing each tensor
/// (`dtype`, `shape`, `data_offsets` relative to the data section), then the data.
///
/// Everything in the header is checked before a tensor is handed out: sizes and offsets with overflow
/// checks, byte lengths against dtype × shape, bounds against the file, no overlaps. A damaged file is a
/// `ModelFormatError` naming the file and tensor, never a crash.
public final class SafetensorsFile: Sendable {
    /// Longest header accepted (the format's reference implementation uses 100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// The file's path.
    public let path: String
    /// Tensors by name.
    public let tensors: [String: Tensor]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]

    /// Maps and validates `path`.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Validates an already-mapped file.
    public init(file: MappedFile) throws {
        path = file.path
        let bytes = file.bytes
        func corrupt(_ reason: String) -> ModelFormatError { .corruptFile(path: file.path, reason: reason) }

        guard bytes.count >= 8 else { throw corrupt("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        let declaredLength = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard declaredLength > 0 else { throw corrupt("header length is 0") }
        guard declaredLength <= UInt64(Self.maximumHeaderLength) else {
            throw corrupt("header length \(declaredLength) exceeds \(Self.maximumHeaderLength) bytes")
        }
        let headerLength = Int(declaredLength)
        guard headerLength <= bytes.count - 8 else {
            throw corrupt("header length \(headerLength) runs past the end of the \(bytes.count)-byte file (truncated?)")
        }
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart

        // Parsed in place from the mapping: the header is never copied.
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw corrupt("header is not valid UTF-8") }
        let json: JSONValue
        do {
            json = try JSONValue.parse(headerBytes, options: .strict)
        } catch {
            throw corrupt("header is not valid JSON (\(error.reason) at header byte \(error.offset))")
        }
        guard case .object(let header) = json else { throw corrupt("header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let rawMetadata = header["__metadata__"] {
            guard case .object(let map) = rawMetadata else { throw corrupt("__metadata__ is not an object") }
            for (key, value) in map {
                guard case .string(let string) = value else { throw corrupt("__metadata__ value for \"\(key)\" is not a string") }
                metadata[key] = string
            }
        }

        var tensors: [String: Tensor] = [:]
        var ranges: [(range: Range<Int>, name: String)] = []
        for (name, entry) in header where name != "__metadata__" {
            func invalid(_ reason: String) -> ModelFormatError { .invalidTensor(path: file.path, tensor: name, reason: reason) }
            guard case .object(let fields) = entry else { throw invalid("entry is not an object") }
            guard case .string(let dtypeName)? = fields["dtype"] else { throw invalid("missing string \"dtype\"") }
            guard case .array(let shapeValues)? = fields["shape"] else { throw invalid("missing array \"shape\"") }
            guard case .array(let offsetValues)? = fields["data_offsets"], offsetValues.count == 2 else {
                throw invalid("\"data_offsets\" must be an array of two integers")
            }
            let shape = try shapeValues.map { value -> Int in
                guard case .integer(let dimension) = value, dimension >= 0 else { throw invalid("shape has a non-integer or negative dimension") }
                return dimension
            }
            let offsets = try offsetValues.map { value -> Int in
                guard case .integer(let offset) = value, offset >= 0 else { throw invalid("data_offsets are not non-negative integers") }
                return offset
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else { throw invalid("data_offsets begin \(begin) > end \(end)") }
            guard end <= dataLength else {
                throw invalid("data ends at byte \(end) of a \(dataLength)-byte data section (truncated file?)")
            }
            guard let dataType = TensorDataType(rawValue: dtypeName) else {
                throw ModelFormatError.unsupportedDataType(path: file.path, tensor: name, dataType: dtypeName)
            }
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw invalid("shape \(shape) overflows") }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dataType.byteWidth)
            guard !overflow, byteCount == end - begin else {
                throw invalid("shape \(shape) × \(dtypeName) needs \(overflow ? "too many" : String(byteCount)) bytes but data_offsets span \(end - begin)")
            }
            tensors[name] = Tensor(name: name, dataType: dataType, shape: shape, file: file, offset: dataStart + begin)
            if begin < end { ranges.append((begin..<end, name)) }
        }
        ranges.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.range.lowerBound < previous.range.upperBound {
            throw corrupt("tensors \"\(previous.name)\" and \"\(next.name)\" overlap")
        }
        self.tensors = tensors
        self.metadata = metadata
    }
}
