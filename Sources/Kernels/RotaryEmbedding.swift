import Foundation

/// Rotary position embedding in the rotate-half convention of transformers' Llama/Qwen code.
public struct RotaryEmbedding: Sendable {
    /// The rotated dimensions (the head dimension).
    public let dimensions: Int
    /// `1 / theta^(2i/d)` for each pair, in fp32 as transformers computes it.
    public let inverseFrequencies: [Float]

    /// Frequencies for the given head dimension and base.
    public init(dimensions: Int, theta: Double) {
        self.dimensions = dimensions
        let half = dimensions / 2
        inverseFrequencies = (0..<half).map { i in
            // transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all in float32.
            let exponent = Float(2 * i) / Float(dimensions)
            return 1 / Float(pow(Float(theta), exponent))
        }
    }

    /// Cosines and sines for positions `0..<length`, `length × dimensions/2` each, computed once per
    /// forward pass and shared by every head and layer.
    public func table(length: Int) -> RotaryTable {
        let half = dimensions / 2
        var cosines = [Float](repeating: 0, count: length * half)
        var sines = [Float](repeating: 0, count: length * half)
        for position in 0..<length {
            let p = Float(position)
            for i in 0..<half {
                // transformers: freqs = position (fp32) * inv_freq (fp32); cos/sin in fp32.
                let angle = p * inverseFrequencies[i]
                cosines[position * half + i] = cos(angle)
                sines[position * half + i] = sin(angle)
            }
        }
        return RotaryTable(half: half, cosines: cosines, sines: sines)
    }
}
