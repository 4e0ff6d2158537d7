import Foundation
import Testing
@testable import Training

/// optimizers.json: initial tensors, fixed gradients per step, and torch's results for each run.
private struct OptimizerGolden: Decodable {
    struct Step: Decodable {
        var learningRate: Double
        var gradNorm: Double?
        var clippedGradients: [[Double]]
        var weights: [[Double]]
        var expAvg: [[Double]]?
        var expAvgSq: [[Double]]?
    }
    struct Run: Decodable {
        var kind: String
        var peak: Double
        var weightDecay: Double
        var warmup: Int
        var total: Int
        var maxNorm: Double
        var steps: [Step]
    }
    var names: [String]
    var shapes: [[Int]]
    var initial: [[Double]]
    var gradients: [[[Double]]]
    var runs: [Run]

    /// Fresh parameters with the initial values.
    func parameters() -> [TrainableParameter] {
        names.indices.map { TrainableParameter(name: names[$0], shape: shapes[$0], values: initial[$0].map { Float($0) }) }
    }

    /// Sets every parameter's gradient to the fixed gradient of `step`.
    func setGradients(_ parameters: [TrainableParameter], step: Int) {
        for (parameter, gradient) in zip(parameters, gradients[step]) { parameter.gradients = gradient.map { Float($0) } }
    }

    /// The run's optimiser and schedule (linear for AdamW, constant for SGD, as the script builds them).
    func optimizer(for run: Run) throws -> (any Optimizer, LearningRateSchedule) {
        if run.kind == "adamw" {
            return (try AdamW(weightDecay: run.weightDecay),
                    try LearningRateSchedule(kind: .linear, peakLearningRate: run.peak, warmup: .steps(run.warmup), totalSteps: run.total))
        }
        return (try SGD(weightDecay: run.weightDecay),
                try LearningRateSchedule(kind: .constant, peakLearningRate: run.peak, warmup: .steps(run.warmup), totalSteps: run.total))
    }
}

@Suite("Training optimisers and clipping")
struct OptimizerTests {
    @Test("AdamW and SGD with schedule, weight decay and clipping follow torch step by step")
    func optimizersMatchTorch() throws {
        let golden = try OptimizerGolden.load()
        #expect(golden.runs.map(\.kind) == ["adamw", "adamw", "sgd"])
        for run in golden.runs {
            let parameters = golden.parameters()
            var (optimizer, schedule) = try golden.optimizer(for: run)
            var worstWeight = 0.0, worstMoment = 0.0, bitwise = 0, total = 0
            for (index, expected) in run.steps.enumerated() {
                golden.setGradients(parameters, step: index)
                let learningRate = schedule.learningRate(atStep: index)
                #expect(learningRate == expected.learningRate, "\(run.kind) step \(index): learning rate")
                let norm = GradientClipping.clip(parameters, maxNorm: Float(run.maxNorm))
                if let reference = expected.gradNorm {
                    #expect(abs(Double(norm) - reference) <= 1e-6 * reference, "\(run.kind) step \(index): norm \(norm) vs \(reference)")
                }
                let clipped = LossGoldens.relativeDeviation(
                    parameters.flatMap(\.gradients), expected.clippedGradients.flatFloats)
                #expect(clipped <= 1e-6, "\(run.kind) step \(index): clipped gradients deviate by \(clipped)")
                optimizer.step(parameters, learningRate: learningRate)
                #expect(optimizer.stepCount == index + 1)

                let ours = parameters.flatMap(\.values), reference = expected.weights.flatFloats
                let deviation = LossGoldens.absoluteDeviation(ours, reference)
                #expect(deviation <= 1e-6, "\(run.kind) step \(index): weights deviate by \(deviation)")
                worstWeight = max(worstWeight, deviation)
                bitwise += zip(ours, reference).filter { $0 == $1 }.count
                total += ours.count
                if let first = expected.expAvg, let second = expected.expAvgSq {
                    let state = optimizer.state
                    #expect(state.step == index + 1)
                    let byName = Dictionary(uniqueKeysWithValues: state.tensors.map { ($0.name, $0) })
                    for (position, name) in golden.names.enumerated() {
                        let m = try #require(byName[name + ".exp_avg"]), v = try #require(byName[name + ".exp_avg_sq"])
                        #expect(m.shape == golden.shapes[position] && v.shape == golden.shapes[position])
                        let momentDeviation = max(
                            LossGoldens.relativeDeviation(m.values, first[position].map { Float($0) }),
                            LossGoldens.relativeDeviation(v.values, second[position].map { Float($0) }))
                        #expect(momentDeviation <= 1e-6, "\(run.kind) step \(index) \(name): moments deviate by \(momentDeviation)")
                        worstMoment = max(worstMoment, momentDeviation)
                    }
                }
            }
            print("\(run.kind) lr \(run.peak) vs torch: max |Δweight| \(worstWeight), moments \(worstMoment) (relative), \(bitwise)/\(total) weights bitwise equal")
        }
    }

    @Test("One step from torch's own weights, moments and clipped gradients: SGD bitwise, AdamW within an ulp")
    func singleStepArithmetic() throws {
        // Isolates the update arithmetic from the clipping norm (torch's fp32 norm reduction can be an ulp
        // off the correctly rounded one ours is): each step starts from torch's state of the step before.
        let golden = try OptimizerGolden.load()
        for run in golden.runs {
            var bitwise = 0, total = 0, worst = 0.0
            for (index, expected) in run.steps.enumerated() {
                let parameters = golden.parameters()
                var (optimizer, _) = try golden.optimizer(for: run)
                if index > 0 {
                    let previous = run.steps[index - 1]
                    for (position, parameter) in parameters.enumerated() {
                        parameter.values = previous.weights[position].map { Float($0) }
                    }
                    var tensors: [OptimizerStateTensor] = []
                    if let first = previous.expAvg, let second = previous.expAvgSq {
                        for (position, name) in golden.names.enumerated() {
                            tensors.append(OptimizerStateTensor(name: name + ".exp_avg", shape: golden.shapes[position],
                                                                values: first[position].map { Float($0) }))
                            tensors.append(OptimizerStateTensor(name: name + ".exp_avg_sq", shape: golden.shapes[position],
                                                                values: second[position].map { Float($0) }))
                        }
                    }
                    try optimizer.restore(OptimizerState(step: index, tensors: tensors), parameters: parameters)
                }
                for (position, parameter) in parameters.enumerated() {
                    parameter.gradients = expected.clippedGradients[position].map { Float($0) }
                }
                optimizer.step(parameters, learningRate: expected.learningRate)
                let ours = parameters.flatMap(\.values), reference = expected.weights.flatFloats
                bitwise += zip(ours, reference).filter { $0 == $1 }.count
                total += ours.count
                worst = max(worst, LossGoldens.absoluteDeviation(ours, reference))
                if run.kind == "adamw" {
                    // The moments involve no square root: they must be torch's exactly.
                    let state = optimizer.state
                    let byName = Dictionary(uniqueKeysWithValues: state.tensors.map { ($0.name, $0.values) })
                    for (position, name) in golden.names.enumerated() {
                        #expect(byName[name + ".exp_avg"] == expected.expAvg?[position].map { Float($0) })
                        #expect(byName[name + ".exp_avg_sq"] == expected.expAvgSq?[position].map { Float($0) })
                    }
                }
            }
            print("\(run.kind) lr \(run.peak), single steps from torch's state: \(bitwise)/\(total) weights bitwise, max |Δ| \(worst)")
            if run.kind == "sgd" {
                #expect(bitwise == total)
            } else {
                // torch's vectorised sqrt is not always correctly rounded: an ulp of the update at most.
                #expect(worst <= 2.4e-7)
            }
        }
    }

    @Test("An AdamW state exported after 2 steps and restored continues bitwise like an uninterrupted run")
    func adamWStateRoundTrip() throws {
        let golden = try OptimizerGolden.load()
        let uninterrupted = golden.parameters()
        var straight = try AdamW(weightDecay: 0.05)
        for step in 0..<4 {
            golden.setGradients(uninterrupted, step: step)
            straight.step(uninterrupted, learningRate: 0.01)
        }

        let first = golden.parameters()
        var before = try AdamW(weightDecay: 0.05)
        for step in 0..<2 {
            golden.setGradients(first, step: step)
            before.step(first, learningRate: 0.01)
        }
        let saved = before.state
        #expect(saved.step == 2 && saved.tensors.count == 2 * golden.names.count)
        // A new process: parameters rebuilt from the checkpoint's values, a fresh optimiser restored.
        let resumed = zip(golden.names.indices, first).map { index, parameter in
            TrainableParameter(name: golden.names[index], shape: golden.shapes[index], values: parameter.values)
        }
        var after = try AdamW(weightDecay: 0.05)
        try after.restore(saved, parameters: resumed.reversed())  // order of the list does not matter
        #expect(after.state.step == 2)
        for step in 2..<4 {
            golden.setGradients(resumed, step: step)
            after.step(resumed, learningRate: 0.01)
        }
        #expect(resumed.map(\.values) == uninterrupted.map(\.values))
        #expect(after.state == straight.state)
    }

    @Test("Restoring a state that does not fit the parameters is an error and changes nothing")
    func adamWRestoreRefusesBadStates() throws {
        let golden = try OptimizerGolden.load()
        let parameters = golden.parameters()
        var optimizer = try AdamW()
        golden.setGradients(parameters, step: 0)
        optimizer.step(parameters, learningRate: 0.001)
        let good = optimizer.state

        var wrongShape = good
        wrongShape.tensors[0].shape = [10, 4]
        var missing = good
        missing.tensors.removeLast()
        var unknown = good
        unknown.tensors.append(OptimizerStateTensor(name: "layers.9.mlp.up_proj.lora_A.weight.exp_avg", shape: [1], values: [0]))
        var shortValues = good
        shortValues.tensors[1].values.removeLast()
        var negative = good
        negative.step = -1
        var duplicate = good
        duplicate.tensors.append(good.tensors[0])
        let zeroStepWithMoments = OptimizerState(step: 0, tensors: good.tensors)
        for (label, state) in [("shape", wrongShape), ("missing", missing), ("unknown", unknown), ("short", shortValues),
                               ("negative", negative), ("duplicate", duplicate), ("step 0", zeroStepWithMoments)] {
            var target = try AdamW()
            #expect(throws: OptimizationError.self, "\(label)") { try target.restore(state, parameters: parameters) }
            #expect(target.stepCount == 0, "\(label)")
            #expect(target.state.tensors.isEmpty, "\(label)")
        }
        var sgd = try SGD()
        #expect(throws: OptimizationError.self) { try sgd.restore(good, parameters: parameters) }
        try sgd.restore(OptimizerState(step: 7, tensors: []), parameters: parameters)
        #expect(sgd.stepCount == 7)
        #expect(OptimizationError.invalidState("x").description == "invalid optimizer state: x")
    }

    @Test("Invalid hyperparameters are errors, as in torch")
    func invalidHyperparameters() {
        #expect(throws: OptimizationError.self) { try AdamW(beta1: 1) }
        #expect(throws: OptimizationError.self) { try AdamW(beta2: -0.1) }
        #expect(throws: OptimizationError.self) { try AdamW(epsilon: -1e-8) }
        #expect(throws: OptimizationError.self) { try AdamW(weightDecay: .nan) }
        #expect(throws: OptimizationError.self) { try SGD(weightDecay: -1) }
        #expect(throws: Never.self) { try AdamW(beta1: 0, beta2: 0, epsilon: 0, weightDecay: 0) }
    }

    @Test("AdamW with β₁ above one half takes torch.lerp's other branch")
    func adamWLargeLerpWeight() throws {
        // β₁ = 0.3: weight 1 − β₁ = 0.7 ≥ 0.5, torch computes end − (end − start)(1 − w). After one step
        // from m = 0, m = fma(w − 1, g, g) = 0.7 g rounded once; v = (1 − β₂) g², the update is −lr·sign(g)
        // up to ε (bias corrections cancel the moments' scales).
        let parameter = TrainableParameter(name: "w", shape: [3], values: [1, 2, 3])
        parameter.gradients = [0.5, -2, 0]
        var optimizer = try AdamW(beta1: 0.3)
        optimizer.step([parameter], learningRate: 0.1)
        let m = optimizer.state.tensors[0].values
        let weight = Float(1 - 0.3)
        #expect(m == [Float(0.5).addingProduct(weight - 1, 0.5), Float(-2).addingProduct(weight - 1, -2), 0])
        #expect(abs(parameter.values[0] - 0.9) <= 1e-6 && abs(parameter.values[1] - 2.1) <= 1e-6)
        #expect(parameter.values[2] == 3)
    }

    @Test("SGD: p − lr·(g + λp), gradients untouched")
    func sgdByHand() throws {
        let parameter = TrainableParameter(name: "w", shape: [2], values: [1, -2])
        parameter.gradients = [0.5, 0.25]
        var optimizer = try SGD(weightDecay: 0.5)
        optimizer.step([parameter], learningRate: 0.1)
        // 1 − 0.1·(0.5 + 0.5·1) = 0.9 and −2 − 0.1·(0.25 + 0.5·(−2)) = −1.925, to an ulp.
        #expect(abs(parameter.values[0] - 0.9) <= 1.2e-7)
        #expect(abs(parameter.values[1] + 1.925) <= 2.4e-7)
        #expect(parameter.gradients == [0.5, 0.25])
        #expect(optimizer.state == OptimizerState(step: 1, tensors: []))
    }

    @Test("Clipping: total norm over all parameters, PyTorch's 1e-6, disabled by 0, no-op below the bound")
    func clipping() {
        func parameters() -> [TrainableParameter] {
            let a = TrainableParameter(name: "a", shape: [2], values: [0, 0])
            let b = TrainableParameter(name: "b", shape: [1], values: [0])
            a.gradients = [3, 0]
            b.gradients = [-4]
            return [a, b]
        }
        let clipped = parameters()
        #expect(GradientClipping.clip(clipped, maxNorm: 1) == 5)
        let coefficient = (1 / (Float(5) + 1e-6)) * 1
        #expect(clipped[0].gradients == [3 * coefficient, 0] && clipped[1].gradients == [-4 * coefficient])
        #expect(abs(GradientClipping.totalNorm(clipped) - 1) <= 1e-6)

        let disabled = parameters()
        #expect(GradientClipping.clip(disabled, maxNorm: 0) == 5)
        #expect(disabled[0].gradients == [3, 0] && disabled[1].gradients == [-4])

        let below = parameters()
        #expect(GradientClipping.clip(below, maxNorm: 10) == 5)
        #expect(below[0].gradients == [3, 0] && below[1].gradients == [-4])

        // A non-finite norm reaches the gradients as in torch (error_if_nonfinite=False): the loss check stops the run.
        let broken = parameters()
        broken[1].gradients = [.nan]
        #expect(GradientClipping.clip(broken, maxNorm: 1).isNaN)
        #expect(broken[0].gradients.allSatisfy { $0.isNaN })
        #expect(GradientClipping.clip([], maxNorm: 1) == 0)
    }
}

extension OptimizerGolden {
    static func load() throws -> OptimizerGolden { try LossGoldens.load(OptimizerGolden.self, "optimizers.json") }
}
