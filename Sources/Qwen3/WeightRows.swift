import Foundation
import ModelFormats

/// A matrix that is only ever read a row at a time (the token embedding table, the LM head rows a
/// reranker needs), left memory-mapped in its file encoding and converted to fp32 row by row.
public struct WeightRows: Sendable {
    /// Number of rows.
    public let rowCount: Int
    /// Values per row.
    public let rowLength: Int
    private let convert: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void

    /// Rows produced by `convert(row, destination)`, which writes `rowLength` fp32 values.
    public init(rowCount: Int, rowLength: Int, convert: @escaping @Sendable (Int, UnsafeMutablePointer<Float>) -> Void) {
        self.rowCount = rowCount
        self.rowLength = rowLength
        self.convert = convert
    }

    /// Rows of a 2-D safetensors tensor (F32, F16 or BF16; converted exactly).
    public init(tensor: Tensor) {
        precondition(tensor.shape.count == 2, "row tables are 2-D")
        let length = tensor.shape[1]
        self.init(rowCount: tensor.shape[0], rowLength: length) { row, destination in
            tensor.copyElements(from: row * length, count: length, into: destination)
        }
    }

    /// Writes row `row` as fp32 into `destination` (`rowLength` values). Precondition: `row < rowCount`.
    public func copyRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rowCount, "row \(row) outside a table of \(rowCount) rows")
        convert(row, destination)
    }

    /// Row `row` as an array.
    public func row(_ row: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: rowLength) { buffer, initialized in
            copyRow(row, into: buffer.baseAddress!)
            initialized = rowLength
        }
    }
}
