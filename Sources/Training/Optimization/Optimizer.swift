import Foundation

// MARK: - Protocol and state

/// An optimiser that updates ``TrainableParameter`` values in place from their accumulated gradients.
///
/// Learning rates are `Double` because that is what PyTorch hands its optimisers: the scheduler's
/// `base_lr * lambda(step)` is a Python float, and the optimiser derives its per-step scalars
/// (`lr / bias_correction1`, `1 - lr * weight_decay`) in double precision before they meet the fp32
/// tensors. Doing the same here is what makes our weights follow PyTorch's to the last bits.
///
/// The state (moments and step counter) can be exported as named fp32 tensors and restored, so a
/// checkpoint written with safetensors resumes a run bitwise.
public protocol Optimizer: Sendable {
    /// Number of updates applied so far (PyTorch's `state["step"]`; 0 before the first step).
    var stepCount: Int { get }

    /// Applies one update to every parameter from its `gradients`, with the given learning rate.
    ///
    /// Gradients are read, never modified or zeroed (zeroing is the caller's job, as in PyTorch).
    mutating func step(_ parameters: [TrainableParameter], learningRate: Double)

    /// The optimiser's state: the step counter and every per-parameter buffer as a named fp32 tensor.
    var state: OptimizerState { get }

    /// Replaces the state with one previously exported by ``state``, checked against `parameters`.
    ///
    /// - Throws: ``OptimizationError/invalidState(_:)`` when a tensor is unknown, missing or has the wrong
    ///   shape, or the step counter is negative; the optimiser is left unchanged then.
    mutating func restore(_ state: OptimizerState, parameters: [TrainableParameter]) throws
}

extension Optimizer {
    /// Applies one update with an fp32 learning rate (widened exactly to `Double`).
    public mutating func step(_ parameters: [TrainableParameter], learningRate: Float) {
        step(parameters, learningRate: Double(learningRate))
    }
}

/// One named fp32 buffer of an optimiser's state, ready to be written as a safetensors tensor.
public struct OptimizerStateTensor: Sendable, Equatable {
    /// `<parameter name>.<buffer>`, for example `layers.0.self_attn.q_proj.lora_A.weight.exp_avg`.
    public var name: String
    /// The shape of the parameter the buffer belongs to.
    public var shape: [Int]
    /// The buffer's values, `shape.reduce(1, *)` of them.
    public var values: [Float]

    /// A buffer with the given name, shape and values.
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// Everything an optimiser needs to continue a run exactly: its step counter and its buffers.
public struct OptimizerState: Sendable, Equatable {
    /// Number of updates already applied.
    public var step: Int
    /// Per-parameter buffers, in a stable order (the order the parameters were first stepped in).
    public var tensors: [OptimizerStateTensor]

    /// A state with the given step counter and buffers.
    public init(step: Int, tensors: [OptimizerStateTensor]) {
        self.step = step
        self.tensors = tensors
    }
}

/// Invalid optimiser, schedule or clipping settings, or a state that does not fit the parameters.
public enum OptimizationError: Error, Equatable, LocalizedError, CustomStringConvertible {
    /// A hyperparameter outside its valid range; the message names it and the allowed values.
    case invalidHyperparameter(String)
    /// A saved optimiser state that does not match the parameters being trained.
    case invalidState(String)

    /// A one-line message for the CLI.
    public var description: String {
        switch self {
        case .invalidHyperparameter(let message): return message
        case .invalidState(let message): return "invalid optimizer state: \(message)"
        }
    }

    /// Same as ``description``.
    public var errorDescription: String? { description }
}

// MARK: - AdamW

/// AdamW with exactly the arithmetic of PyTorch's `torch.optim.AdamW` (torch 2.13, CPU, fp32, the default
/// single-tensor path: not `foreach`, not `fused`, `amsgrad=False`, `maximize=False`).
///
/// For step t (counted from 1), gradient g, learning rate lr (PyTorch's own order of operations):
///
///     p   ← p · fl(1 − lr·λ)                                   (decoupled weight decay; skipped when λ = 0)
///     m   ← lerp(m, g, fl(1 − β₁))  = fma(w, g − m, m)          (w < 0.5; else fma(w − 1, g − m, g))
///     v   ← fma(fl(1 − β₂)·g, g, v · fl(β₂))                   (`mul_(β₂).addcmul_(g, g, 1 − β₂)`)
///     bc₁ = 1 − β₁^t,  bc₂ = 1 − β₂^t,  α = lr / bc₁           (all in Double, as Python floats)
///     d   = √v / fl(bc₂^0.5) + fl(ε)
///     p   ← p + (fl(−α)·m) / d                                  (`addcdiv_(m, d, value=−α)`)
///
/// `fl(x)` is the Double scalar rounded to Float, which is what PyTorch's CPU kernels do with a Python
/// scalar on an fp32 tensor; the fused multiply-adds are where PyTorch's AVX2 kernels (`lerp`, `addcmul`)
/// use them. The one unavoidable difference is the square root: PyTorch's vectorised `sqrt` on CPU is not
/// always correctly rounded (about 1 in 5 results differ by one ulp), Swift's is, so the weights agree
/// to within an ulp of the update rather than bitwise.
public struct AdamW: Optimizer {
    /// β₁, the decay of the first-moment average (0.9).
    public let beta1: Double
    /// β₂, the decay of the second-moment average (0.999).
    public let beta2: Double
    /// ε, added to the bias-corrected root of the second moment (1e-8).
    public let epsilon: Double
    /// λ, the decoupled weight decay (0 disables it; PyTorch's own default is 0.01, the CLI chooses ours).
    public let weightDecay: Double

    /// The first and second moments of one parameter.
    private struct Moments: Sendable {
        var first: [Float]
        var second: [Float]
    }

    /// Moments per parameter name, created lazily at a parameter's first step as PyTorch does.
    private var moments: [String: Moments] = [:]
    /// Parameter names with their shapes in the order they were first stepped, for a stable state export.
    private var order: [(name: String, shape: [Int])] = []

    /// Number of updates applied so far.
    public private(set) var stepCount: Int = 0

    /// An AdamW optimiser.
    ///
    /// - Throws: ``OptimizationError/invalidHyperparameter(_:)`` for β outside [0, 1), a negative or
    ///   non-finite ε or weight decay (PyTorch's own checks).
    public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) throws {
        guard beta1 >= 0, beta1 < 1 else {
            throw OptimizationError.invalidHyperparameter("AdamW beta1 must be in [0, 1), got \(beta1)")
        }
        guard beta2 >= 0, beta2 < 1 else {
            throw OptimizationError.invalidHyperparameter("AdamW beta2 must be in [0, 1), got \(beta2)")
        }
        guard epsilon >= 0, epsilon.isFinite else {
            throw OptimizationError.invalidHyperparameter("AdamW epsilon must be a finite number >= 0, got \(epsilon)")
        }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw OptimizationError.invalidHyperparameter("weight decay must be a finite number >= 0, got \(weightDecay)")
        }
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Applies one AdamW update to every parameter (see the type's documentation for the arithmetic).
    public mutating func step(_ parameters: [TrainableParameter], learningRate: Double) {
        stepCount += 1
        // Per-step scalars, in Double as PyTorch computes them from Python floats (`step` is a float
        // tensor's value there; small integers are exact either way).
        let step = Double(stepCount)
        let biasCorrection1 = 1 - Foundation.pow(beta1, step)
        let biasCorrection2 = 1 - Foundation.pow(beta2, step)
        let stepSize = learningRate / biasCorrection1
        let biasCorrection2Root = Foundation.pow(biasCorrection2, 0.5)
        // What the fp32 kernels see: each Python scalar rounded once to Float.
        let decay = Float(1 - learningRate * weightDecay)
        let lerpWeight = Float(1 - beta1)
        let lerpIsSmall = abs(lerpWeight) < 0.5
        let beta2Float = Float(beta2)
        let oneMinusBeta2 = Float(1 - beta2)
        let rootFloat = Float(biasCorrection2Root)
        let epsilonFloat = Float(epsilon)
        let negativeStepSize = Float(-stepSize)
        let decays = weightDecay != 0

        for parameter in parameters {
            precondition(parameter.gradients.count == parameter.values.count, "\(parameter.name): gradient size")
            var state = moments.removeValue(forKey: parameter.name) ?? {
                order.append((parameter.name, parameter.shape))
                let zeros = [Float](repeating: 0, count: parameter.count)
                return Moments(first: zeros, second: zeros)
            }()
            precondition(state.first.count == parameter.count, "\(parameter.name): parameter size changed")
            parameter.gradients.withUnsafeBufferPointer { g in
                parameter.values.withUnsafeMutableBufferPointer { p in
                    state.first.withUnsafeMutableBufferPointer { m in
                        state.second.withUnsafeMutableBufferPointer { v in
                            for i in 0..<p.count {
                                var value = p[i]
                                if decays { value = value * decay }
                                let gradient = g[i]
                                // torch.lerp: the small-weight form interpolates from the start, the other from the end.
                                let difference = gradient - m[i]
                                let first = lerpIsSmall
                                    ? m[i].addingProduct(lerpWeight, difference)
                                    : gradient.addingProduct(lerpWeight - 1, difference)
                                m[i] = first
                                let second = (v[i] * beta2Float).addingProduct(oneMinusBeta2 * gradient, gradient)
                                v[i] = second
                                let denominator = second.squareRoot() / rootFloat + epsilonFloat
                                p[i] = value + (negativeStepSize * first) / denominator
                            }
                        }
                    }
                }
            }
            moments[parameter.name] = state
        }
    }

    /// The step counter and, per parameter, `<name>.exp_avg` and `<name>.exp_avg_sq` (PyTorch's names).
    public var state: OptimizerState {
        var tensors: [OptimizerStateTensor] = []
        tensors.reserveCapacity(order.count * 2)
        for (name, shape) in order {
            guard let state = moments[name] else { continue }
            tensors.append(OptimizerStateTensor(name: name + ".exp_avg", shape: shape, values: state.first))
            tensors.append(OptimizerStateTensor(name: name + ".exp_avg_sq", shape: shape, values: state.second))
        }
        return OptimizerState(step: stepCount, tensors: tensors)
    }

    /// Restores a state exported by ``state``: after a step, every parameter must have both moments with
    /// its own shape; a state at step 0 must have none.
    public mutating func restore(_ state: OptimizerState, parameters: [TrainableParameter]) throws {
        guard state.step >= 0 else { throw OptimizationError.invalidState("negative step \(state.step)") }
        let byName = try uniqueTensors(state.tensors)
        if state.step == 0 {
            guard byName.isEmpty else {
                throw OptimizationError.invalidState("moments present at step 0")
            }
            moments = [:]
            order = []
            stepCount = 0
            return
        }
        var restored: [String: Moments] = [:]
        var restoredOrder: [(name: String, shape: [Int])] = []
        for parameter in parameters {
            var pair: [[Float]] = []
            for suffix in [".exp_avg", ".exp_avg_sq"] {
                guard let tensor = byName[parameter.name + suffix] else {
                    throw OptimizationError.invalidState("no tensor \(parameter.name + suffix)")
                }
                guard tensor.shape == parameter.shape, tensor.values.count == parameter.count else {
                    throw OptimizationError.invalidState(
                        "\(tensor.name) has shape \(tensor.shape) (\(tensor.values.count) values), the parameter \(parameter.shape)")
                }
                pair.append(tensor.values)
            }
            guard restored[parameter.name] == nil else {
                throw OptimizationError.invalidState("parameter \(parameter.name) listed twice")
            }
            restored[parameter.name] = Moments(first: pair[0], second: pair[1])
            restoredOrder.append((parameter.name, parameter.shape))
        }
        guard byName.count == restored.count * 2 else {
            let known = Set(restored.keys.flatMap { [$0 + ".exp_avg", $0 + ".exp_avg_sq"] })
            let extra = byName.keys.filter { !known.contains($0) }.sorted()
            throw OptimizationError.invalidState("unknown tensor \(extra.first ?? "?")")
        }
        // Keep the saved order (not the order of `parameters`), so that re-exporting gives the same state.
        let position = Dictionary(uniqueKeysWithValues: state.tensors.enumerated().map { ($1.name, $0) })
        restoredOrder.sort { position[$0.name + ".exp_avg"]! < position[$1.name + ".exp_avg"]! }
        moments = restored
        order = restoredOrder
        stepCount = state.step
    }
}

// MARK: - SGD

/// Plain stochastic gradient descent without momentum, with PyTorch's `torch.optim.SGD` arithmetic
/// (CPU, fp32, single-tensor path, `momentum=0`):
///
///     g' = fma(p, fl(λ), g)        (`grad.add(param, alpha=λ)`, only when λ ≠ 0: L2 weight decay, not decoupled)
///     p  ← fma(g', fl(−lr), p)      (`param.add_(grad, alpha=−lr)`)
///
/// The gradients themselves are not modified. SGD keeps no buffers: its state is the step counter.
public struct SGD: Optimizer {
    /// λ, the L2 weight decay added to the gradient (0 disables it).
    public let weightDecay: Double

    /// Number of updates applied so far.
    public private(set) var stepCount: Int = 0

    /// An SGD optimiser.
    ///
    /// - Throws: ``OptimizationError/invalidHyperparameter(_:)`` for a negative or non-finite weight decay.
    public init(weightDecay: Double = 0) throws {
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw OptimizationError.invalidHyperparameter("weight decay must be a finite number >= 0, got \(weightDecay)")
        }
        self.weightDecay = weightDecay
    }

    /// Applies `p ← p − lr·(g + λp)` to every parameter, in PyTorch's order of operations.
    public mutating func step(_ parameters: [TrainableParameter], learningRate: Double) {
        stepCount += 1
        let decay = Float(weightDecay)
        let negativeRate = Float(-learningRate)
        let decays = weightDecay != 0
        for parameter in parameters {
            precondition(parameter.gradients.count == parameter.values.count, "\(parameter.name): gradient size")
            parameter.gradients.withUnsafeBufferPointer { g in
                parameter.values.withUnsafeMutableBufferPointer { p in
                    for i in 0..<p.count {
                        let gradient = decays ? g[i].addingProduct(p[i], decay) : g[i]
                        p[i] = p[i].addingProduct(gradient, negativeRate)
                    }
                }
            }
        }
    }

    /// The step counter (SGD without momentum has no buffers).
    public var state: OptimizerState { OptimizerState(step: stepCount, tensors: []) }

    /// Restores the step counter; a state carrying buffers belongs to another optimiser and is refused.
    public mutating func restore(_ state: OptimizerState, parameters: [TrainableParameter]) throws {
        guard state.step >= 0 else { throw OptimizationError.invalidState("negative step \(state.step)") }
        guard state.tensors.isEmpty else {
            throw OptimizationError.invalidState("SGD has no buffers, but the state has \(state.tensors.first!.name)")
        }
        stepCount = state.step
    }
}

/// The state's tensors by name; a name given twice is an error.
private func uniqueTensors(_ tensors: [OptimizerStateTensor]) throws -> [String: OptimizerStateTensor] {
    var byName: [String: OptimizerStateTensor] = [:]
    for tensor in tensors {
        guard byName.updateValue(tensor, forKey: tensor.name) == nil else {
            throw OptimizationError.invalidState("tensor \(tensor.name) listed twice")
        }
    }
    return byName
}
