import Foundation
import Kernels

/// Element types of the tensors this engine loads.
public enum TensorDataType: String, Sendable, CaseIterable {
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32: return 4
        case .float16, .bfloat16: return 2
        }
    }
}

/// A typed view of one tensor's bytes inside a memory-mapped file; keeps the file mapped.
public struct Tensor: @unchecked Sendable {
    /// The tensor's name in its checkpoint.
    public let name: String
    /// Element type.
    public let dataType: TensorDataType
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// The mapped file holding the bytes.
    public let file: MappedFile
    /// Byte offset of the first element within the file.
    let offset: Int

    /// Creates a view; the caller has validated that the bytes lie inside the file.
    init(name: String, dataType: TensorDataType, shape: [Int], file: MappedFile, offset: Int) {
        self.name = name
        self.dataType = dataType
        self.shape = shape
        self.file = file
        self.offset = offset
    }

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Exactly `elementCount × byteWidth` bytes (possibly unaligned).
    public var data: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + elementCount * dataType.byteWidth)])
    }

    /// Converts `count` elements starting at element `start` to Float (exactly: every F16 and BF16 value
    /// is representable in F32). Precondition: the range lies inside the tensor.
    public func copyElements(from start: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(start >= 0 && count >= 0 && start + count <= elementCount, "element range outside tensor \(name)")
        guard count > 0, let base = data.baseAddress else { return }
        let source = base + start * dataType.byteWidth
        switch dataType {
        case .float32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .bfloat16:
            for i in 0..<count {
                destination[i] = BFloat16.widening(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
            }
        case .float16:
            for i in 0..<count {
                // The IEEE conversion (a signalling NaN comes out quiet), as PyTorch reads F16 checkpoints.
                destination[i] = Half.float(fromBits: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self), nan: .quieting)
            }
        }
    }

    /// The whole tensor as Float values (for small tensors such as norm weights).
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            if let base = buffer.baseAddress { copyElements(from: 0, count: elementCount, into: base) }
            initialized = elementCount
        }
    }
}
