/// The type tag of a GGUF metadata value, as stored before the value (a little-endian `UInt32`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// Bytes one value of this type occupies at the least: the exact size for fixed-size types, the
    /// length prefix for strings, element type + count for arrays. The parser checks a declared count
    /// against `count × minimumByteCount ≤ bytes left` before allocating, so a header claiming 2^60
    /// strings fails at once instead of reserving memory for them.
    var minimumByteCount: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }

    /// The name used in error messages and by the gguf Python package (`UINT32`, `STRING`…).
    public var name: String { String(describing: self).uppercased() }
}

/// One GGUF metadata value.
///
/// The cases mirror the format's value types one to one, so a file's values (including the exact bits
/// of floats, NaN payloads and all) are kept as written; the accessors below give the conversions a
/// reader usually wants without caring whether a writer chose `UINT32` or `INT32` for a count.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    /// An array: its declared element type and the elements (each of that type; arrays may nest).
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value's type tag.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Any integer case whose value fits `Int` (nil for floats, bools, strings, arrays and a `UINT64`
    /// above `Int.max`). Writers differ in the integer type they use for the same key (the gguf
    /// Python package writes token ids as `UINT32`, other tools as `INT32`), so readers should not
    /// insist on one.
    public var integer: Int? {
        switch self {
        case .uint8(let value): return Int(value)
        case .int8(let value): return Int(value)
        case .uint16(let value): return Int(value)
        case .int16(let value): return Int(value)
        case .uint32(let value): return Int(value)
        case .int32(let value): return Int(value)
        case .uint64(let value): return Int(exactly: value)
        case .int64(let value): return Int(exactly: value)
        default: return nil
        }
    }

    /// `FLOAT32` and `FLOAT64` values, and integers converted to `Double` (hyper-parameters such as
    /// `rope.freq_base` are floats in some files and integers in others).
    public var double: Double? {
        switch self {
        case .float32(let value): return Double(value)
        case .float64(let value): return value
        case .uint64(let value): return Double(value)
        case .int64(let value): return Double(value)
        default: return integer.map(Double.init)
        }
    }

    /// The string of a `STRING` value.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of a `BOOL`.
    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements of an array value.
    public var array: [GGUFValue]? {
        if case .array(_, let elements) = self { return elements }
        return nil
    }

    /// An array of strings (e.g. `tokenizer.ggml.tokens`); nil for anything else.
    public var strings: [String]? {
        guard case .array(.string, let elements) = self else { return nil }
        var result: [String] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let value) = element else { return nil }
            result.append(value)
        }
        return result
    }

    /// An array of integers that all fit `Int` (e.g. `tokenizer.ggml.token_type`); nil for anything
    /// else, including an array holding one `UINT64` above `Int.max`.
    public var integers: [Int]? {
        guard case .array(let type, let elements) = self,
              [.uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64].contains(type) else { return nil }
        var result: [Int] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let value = element.integer else { return nil }
            result.append(value)
        }
        return result
    }

    /// An array of numbers as `Float` (e.g. `tokenizer.ggml.scores`): `FLOAT32` elements exactly,
    /// `FLOAT64` and integer elements rounded to the nearest `Float`; nil for anything else.
    public var floats: [Float]? {
        guard case .array(let type, let elements) = self, type != .bool, type != .string, type != .array else { return nil }
        var result: [Float] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            if case .float32(let value) = element {
                result.append(value)
            } else if let value = element.double {
                result.append(Float(value))
            } else {
                return nil
            }
        }
        return result
    }

    /// Bit-exact equality: floats compare by bit pattern, so NaN equals the same NaN and `-0.0` differs
    /// from `0.0`. Metadata is data, not arithmetic, and tests compare files value for value.
    public static func == (lhs: GGUFValue, rhs: GGUFValue) -> Bool {
        switch (lhs, rhs) {
        case let (.uint8(a), .uint8(b)): return a == b
        case let (.int8(a), .int8(b)): return a == b
        case let (.uint16(a), .uint16(b)): return a == b
        case let (.int16(a), .int16(b)): return a == b
        case let (.uint32(a), .uint32(b)): return a == b
        case let (.int32(a), .int32(b)): return a == b
        case let (.float32(a), .float32(b)): return a.bitPattern == b.bitPattern
        case let (.bool(a), .bool(b)): return a == b
        // Byte-wise, not Swift's canonical-equivalence comparison: "é" precomposed and decomposed are
        // different metadata (and different tokens).
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.array(typeA, a), .array(typeB, b)): return typeA == typeB && a == b
        case let (.uint64(a), .uint64(b)): return a == b
        case let (.int64(a), .int64(b)): return a == b
        case let (.float64(a), .float64(b)): return a.bitPattern == b.bitPattern
        default: return false
        }
    }
}
