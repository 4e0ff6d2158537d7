import Kernels
import ModelFormats

/// Rounding of computed values into the stored element types, bit-for-bit as PyTorch does.
public enum ElementEncoding {
    /// The bfloat16 bits nearest to `value`, ties to even; NaN becomes the quiet NaN 0x7FC0
    /// (`c10::BFloat16`'s `round_to_nearest_even`).
    @inlinable
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        BFloat16.rounding(value, nan: .canonical)
    }

    /// The float16 bits nearest to `value`, ties to even (IEEE 754 conversion, as `torch.half`).
    @inlinable
    public static func float16Bits(_ value: Float) -> UInt16 {
        Half.bits(rounding: value)
    }

    /// Stores `values` as `dataType` little-endian elements into `destination`, which holds exactly
    /// `values.count × byteWidth` bytes.
    public static func encode(_ values: UnsafeBufferPointer<Float>, as dataType: TensorDataType, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count == values.count * dataType.byteWidth, "destination size does not match the element count")
        switch dataType {
        case .float32:
            for (index, value) in values.enumerated() {
                destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
            }
        case .bfloat16:
            for (index, value) in values.enumerated() {
                destination.storeBytes(of: bfloat16Bits(value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        case .float16:
            for (index, value) in values.enumerated() {
                destination.storeBytes(of: float16Bits(value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        }
    }
}
