/// The package's one deterministic random number generator: SplitMix64 (Steele, Lea and Flood, 2014).
///
/// Everything that draws numbers which must repeat for a given seed uses this type: evaluation
/// (classification undersampling, clustering bootstraps, k-means), training (shuffling, negative
/// selection, adapter initialisation), query synthesis, the benchmark inputs of the CLI, and the
/// tests, whose committed fixtures and thresholds were produced from its sequences. Its output
/// must therefore never change: a different mixing function would silently alter evaluation
/// scores, resumed training runs and test inputs.
///
/// SplitMix64 is small, fast, passes BigCrush, and has a one-word state that checkpoints can
/// save and restore exactly. It is not cryptographically secure.
///
/// ```swift
/// var generator = SeededGenerator(seed: 42)
/// let sample = (0..<10).shuffled(using: &generator)  // the same order on every run
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable {
    /// The whole internal state: `SeededGenerator(seed: g.state)` continues exactly where `g` is
    /// (training checkpoints save it so that a resumed run draws the same numbers).
    public private(set) var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    ///
    /// - Parameter seed: Any value; nearby seeds give unrelated sequences because every output
    ///   goes through the mixing function.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits: the state advances by the golden-ratio increment and is then
    /// mixed (the constants are those of the reference implementation).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
