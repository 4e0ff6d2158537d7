/// A weight matrix that a linear layer multiplies activations by: `output[m×rows] = input[m×columns] · Wᵀ`.
///
/// Implemented by `PackedMatrix` (fp32 / bf16 panels) and `QuantizedMatrix` (ggml block quantization
/// with integer dot products), so the model runs any checkpoint format through one interface.
public protocol LinearLayer: AnyObject, Sendable {
    /// Output features.
    var rows: Int { get }
    /// Input features.
    var columns: Int { get }
    /// Bytes of weight storage held in memory.
    var byteCount: Int { get }
    /// `output[m×rows] = input[m×columns] · Wᵀ`, split across the pool.
    func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        precision: Precision, features: CPUFeatures, pool: ComputePool
    )
    /// The kernel `multiply` runs on at `precision` on a CPU with `features`.
    func kernel(for precision: Precision, features: CPUFeatures) -> KernelPath
}
