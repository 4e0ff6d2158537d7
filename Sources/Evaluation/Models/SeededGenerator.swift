import Kernels

/// The package's seeded generator (SplitMix64, defined once in `Kernels`), under the name the
/// evaluation API has always used, so that every sampled experiment (classification undersampling,
/// clustering bootstraps, k-means) repeats exactly for a given seed, and so that Training and
/// DataPipeline, which reach it through `Evaluation`, keep compiling without a new import.
public typealias SeededGenerator = Kernels.SeededGenerator
