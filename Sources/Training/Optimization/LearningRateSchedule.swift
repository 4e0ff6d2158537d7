import Foundation

/// A learning-rate schedule with linear warm-up, with the semantics (and the Double arithmetic) of Hugging
/// Face transformers' `get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup` and
/// `get_cosine_schedule_with_warmup` (`num_cycles` 0.5) driven by PyTorch's `LambdaLR`.
///
/// For the 0-based optimiser step s (the learning rate of the first update is that of s = 0), W warm-up
/// steps and T total steps, the learning rate is `peak · f(s)` with
///
///     warm-up (s < W):  f = s / max(1, W)
///     constant:         f = 1
///     linear:           f = max(0, (T − s) / max(1, T − W))
///     cosine:           f = max(0, ½ (1 + cos(π · 0.5 · 2 · (s − W) / max(1, T − W))))
///
/// so with warm-up the first update has learning rate 0, exactly as a Hugging Face Trainer run.
public struct LearningRateSchedule: Sendable, Equatable {
    /// The shape of the schedule after warm-up.
    public enum Kind: String, Sendable, CaseIterable {
        /// The peak learning rate throughout.
        case constant
        /// Linear decay from the peak to 0 at the last step.
        case linear
        /// Half a cosine period from the peak to 0 at the last step.
        case cosine
    }

    /// How the warm-up length is given.
    public enum Warmup: Sendable, Equatable {
        /// A number of optimiser steps.
        case steps(Int)
        /// A fraction of the total steps, rounded up (`ceil(ratio · total)`, as `TrainingArguments.get_warmup_steps`).
        case ratio(Double)
    }

    /// The shape after warm-up.
    public let kind: Kind
    /// The learning rate reached at the end of warm-up (`--learning-rate`).
    public let peakLearningRate: Double
    /// Number of warm-up steps.
    public let warmupSteps: Int
    /// Number of optimiser steps of the whole run.
    public let totalSteps: Int
    /// Cosine periods over the decay (Hugging Face's `num_cycles`; 0.5 decays once to 0).
    public let cycles: Double

    /// A schedule.
    ///
    /// - Throws: ``OptimizationError/invalidHyperparameter(_:)`` for a negative or non-finite learning rate,
    ///   negative total or warm-up steps, or a warm-up ratio outside [0, 1].
    public init(kind: Kind, peakLearningRate: Double, warmup: Warmup = .steps(0), totalSteps: Int) throws {
        guard peakLearningRate >= 0, peakLearningRate.isFinite else {
            throw OptimizationError.invalidHyperparameter(
                "learning rate must be a finite number >= 0, got \(peakLearningRate)")
        }
        guard totalSteps >= 0 else {
            throw OptimizationError.invalidHyperparameter("total steps must be >= 0, got \(totalSteps)")
        }
        self.kind = kind
        self.peakLearningRate = peakLearningRate
        self.warmupSteps = try Self.warmupSteps(warmup, totalSteps: totalSteps)
        self.totalSteps = totalSteps
        self.cycles = 0.5
    }

    /// The number of warm-up steps `warmup` stands for in a run of `totalSteps` steps.
    ///
    /// - Throws: ``OptimizationError/invalidHyperparameter(_:)`` for negative steps or a ratio outside [0, 1].
    public static func warmupSteps(_ warmup: Warmup, totalSteps: Int) throws -> Int {
        switch warmup {
        case .steps(let steps):
            guard steps >= 0 else {
                throw OptimizationError.invalidHyperparameter("warmup steps must be >= 0, got \(steps)")
            }
            return steps
        case .ratio(let ratio):
            guard ratio >= 0, ratio <= 1 else {
                throw OptimizationError.invalidHyperparameter("warmup ratio must be in [0, 1], got \(ratio)")
            }
            return Int((Double(totalSteps) * ratio).rounded(.up))
        }
    }

    /// The factor f(step) the peak learning rate is multiplied by (Hugging Face's `lr_lambda`).
    public func multiplier(atStep step: Int) -> Double {
        if step < warmupSteps {
            return Double(step) / Double(max(1, warmupSteps))
        }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            // Python's left-to-right `math.pi * num_cycles * 2.0 * progress`, for the same rounding.
            return max(0, 0.5 * (1 + Foundation.cos(Double.pi * cycles * 2 * progress)))
        }
    }

    /// The learning rate of the update at the 0-based optimiser step `step` (`LambdaLR`'s `base_lr * f(step)`).
    public func learningRate(atStep step: Int) -> Double {
        peakLearningRate * multiplier(atStep: step)
    }
}
