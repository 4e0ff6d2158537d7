import Kernels

/// The package's seeded generator (SplitMix64, defined once in `Kernels`), so that test targets
/// that do not depend on `Kernels` draw the same sequences as the library and as the scripts that
/// wrote the fixtures (a test's inputs, and therefore its thresholds, depend on them).
public typealias SeededGenerator = Kernels.SeededGenerator
