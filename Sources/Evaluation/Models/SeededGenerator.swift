/// A small deterministic random number generator (SplitMix64), so every sampled experiment
/// (classification undersampling, clustering bootstraps, k-means) repeats exactly for a given seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The whole internal state: `SeededGenerator(seed: g.state)` continues exactly where `g` is
    /// (training checkpoints save it so a resumed run draws the same numbers).
    public private(set) var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
