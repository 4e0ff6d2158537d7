/// Precomputed rotary angles for a range of positions.
public struct RotaryTable: Sendable {
    /// Half the rotated dimension.
    public let half: Int
    /// `cos(position · inverseFrequency[i])`, row-major by position.
    public let cosines: [Float]
    /// `sin(position · inverseFrequency[i])`, row-major by position.
    public let sines: [Float]

    /// Rotates one head vector in place (rotate-half convention: pairs are `i` and `i + d/2`).
    @inline(__always)
    public func apply(to vector: UnsafeMutablePointer<Float>, position: Int) {
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                let base = position * half
                for i in 0..<half {
                    let c = cosines[base + i], s = sines[base + i]
                    let x1 = vector[i], x2 = vector[i + half]
                    vector[i] = x1 * c - x2 * s
                    vector[i + half] = x2 * c + x1 * s
                }
            }
        }
    }
}
