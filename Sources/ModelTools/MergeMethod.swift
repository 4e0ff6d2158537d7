import Foundation

/// How checkpoints are combined, tensor by tensor.
public enum MergeMethod: Sendable, Equatable, CustomStringConvertible {
    /// Spherical linear interpolation between two checkpoints at `t` (0 gives the first, 1 the second),
    /// as mergekit's `slerp`: the angle comes from the normalised tensors, the coefficients are applied to
    /// the original ones (so norms interpolate too), and nearly parallel tensors are interpolated linearly.
    case slerp(t: Double)
    /// Weighted average `Σ wᵢ·xᵢ / Σ wᵢ` of any number of checkpoints (mergekit's `linear`).
    case linear(weights: [Double])

    /// A method's name without its parameters, as `--method` spells it.
    public enum Kind: String, CaseIterable, Sendable {
        /// `MergeMethod.slerp(t:)`: exactly two checkpoints.
        case slerp
        /// `MergeMethod.linear(weights:)`: two or more checkpoints.
        case linear
    }

    /// Which method this is, without its parameters.
    public var kind: Kind {
        switch self {
        case .slerp: .slerp
        case .linear: .linear
        }
    }

    /// Checks the parameters against the number of checkpoints.
    public func validate(checkpointCount: Int) throws(ModelToolsError) {
        guard checkpointCount >= 2 else { throw .invalidArgument("merging needs at least two checkpoints, got \(checkpointCount)") }
        switch self {
        case .slerp(let t):
            guard checkpointCount == 2 else {
                throw .invalidArgument("slerp merges exactly two checkpoints, got \(checkpointCount); use --method linear for more")
            }
            guard t.isFinite, (0...1).contains(t) else { throw .invalidArgument("--t must lie in [0, 1], got \(t)") }
        case .linear(let weights):
            guard weights.count == checkpointCount else {
                throw .invalidArgument("\(weights.count) weights for \(checkpointCount) checkpoints")
            }
            guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }), weights.reduce(0, +) > 0 else {
                throw .invalidArgument("weights must be non-negative with a positive sum, got \(weights)")
            }
        }
    }

    /// `slerp t=0.5` or `linear weights=1,1`.
    public var description: String {
        switch self {
        case .slerp(let t): return "slerp t=\(t)"
        case .linear(let weights): return "linear weights=\(weights.map { "\($0)" }.joined(separator: ","))"
        }
    }
}

/// The SLERP coefficients of mergekit's `slerp` (`mergekit/merge_methods/slerp.py`).
public enum Slerp {
    /// Above this |cos θ| the tensors count as parallel and are interpolated linearly.
    public static let parallelThreshold = 0.9995
    /// Norms at or below this are not normalised (a zero tensor stays zero).
    public static let epsilon = 1e-8

    /// `(s₀, s₁)` with `result = s₀·a + s₁·b`, from the tensors' dot product and norms; `isLinear` tells
    /// whether the near-parallel fallback `(1 − t, t)` was taken.
    public static func coefficients(t: Double, dot: Double, normA: Double, normB: Double) -> (s0: Double, s1: Double, isLinear: Bool) {
        let scaleA = normA > epsilon ? normA : 1
        let scaleB = normB > epsilon ? normB : 1
        let cosine = dot / (scaleA * scaleB)
        if abs(cosine) > parallelThreshold || !cosine.isFinite { return (1 - t, t, true) }
        let theta0 = acos(cosine)
        let sinTheta0 = sin(theta0)
        let thetaT = theta0 * t
        return (sin(theta0 - thetaT) / sinTheta0, sin(thetaT) / sinTheta0, false)
    }
}
