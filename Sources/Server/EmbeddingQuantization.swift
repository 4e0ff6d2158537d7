import Foundation

/// Compressed forms of an embedding, as Cohere's `embedding_types` asks for them.
///
/// All of them are computed from the L2-normalised float vector (after any `output_dimension`
/// truncation and renormalisation), whose components lie in [-1, 1]:
///
/// - `int8`: each component scaled to the signed byte range, `round(x × 127)` (ties away from zero),
///   clamped to [-128, 127]. One byte per dimension.
/// - `uint8`: the same value offset into the unsigned range, `int8 + 128`, in [0, 255]. Keeping the
///   two related by a constant offset means the uint8 and int8 forms order and compare the same way.
///   Cohere documents int8/uint8 only as "scalar quantised" without publishing its calibration; this
///   fixed symmetric scale needs no calibration set and is exact at ±1 and 0.
/// - `ubinary`: one bit per dimension, 1 where the component is positive (`x > 0`), packed eight to a
///   byte with the first dimension in the most significant bit (NumPy's `packbits`, as Cohere's and
///   sentence-transformers' binary embeddings are defined); a final partial byte is padded with 0 bits.
///   The result has `ceil(dimensions / 8)` values in [0, 255].
/// - `binary`: the same packed bytes read as signed values with offset -128 (`ubinary − 128`), in
///   [-128, 127], Cohere's signed binary form.
/// - `base64`: the float32 components little-endian, base64-encoded (what Cohere's `base64` and
///   OpenAI's `encoding_format: "base64"` return).
enum EmbeddingQuantization {
    /// Signed 8-bit scalar quantisation: `clamp(round(x × 127), -128, 127)`.
    static func int8(_ vector: [Float]) -> [Int] {
        vector.map { value in
            guard value.isFinite else { return 0 }
            return Int(max(-128, min(127, (value * 127).rounded(.toNearestOrAwayFromZero))))
        }
    }

    /// Unsigned 8-bit scalar quantisation: `int8 + 128`.
    static func uint8(_ vector: [Float]) -> [Int] {
        int8(vector).map { $0 + 128 }
    }

    /// Sign bits packed eight per byte, most significant bit first: values in [0, 255].
    static func ubinary(_ vector: [Float]) -> [Int] {
        stride(from: 0, to: vector.count, by: 8).map { start in
            var byte = 0
            for offset in 0..<8 {
                let index = start + offset
                let bit = index < vector.count && vector[index] > 0 ? 1 : 0
                byte |= bit << (7 - offset)
            }
            return byte
        }
    }

    /// The packed sign bits as signed bytes: `ubinary − 128`, in [-128, 127].
    static func binary(_ vector: [Float]) -> [Int] {
        ubinary(vector).map { $0 - 128 }
    }

    /// The float32 components, little-endian, base64-encoded.
    static func base64(_ vector: [Float]) -> String {
        base64LittleEndian(vector)
    }
}
