import Foundation
import Testing
@testable import Training

/// schedules.json: transformers' schedules through LambdaLR, learning rate per 0-based step.
private struct ScheduleGolden: Decodable {
    struct Case: Decodable {
        var kind: String
        var peak: Double
        var totalSteps: Int
        var warmup: [String: Double]
        var warmupSteps: Int
        var learningRates: [Double]
    }
    var cases: [Case]
}

@Suite("Training learning-rate schedules")
struct ScheduleTests {
    @Test("constant, linear and cosine with warm-up steps or ratio equal transformers' values")
    func schedulesMatchTransformers() throws {
        let golden = try LossGoldens.load(ScheduleGolden.self, "schedules.json")
        #expect(golden.cases.count == 21)
        var worst = 0.0
        for item in golden.cases {
            let kind = try #require(LearningRateSchedule.Kind(rawValue: item.kind))
            let warmup: LearningRateSchedule.Warmup = try {
                if let ratio = item.warmup["ratio"] { return .ratio(ratio) }
                return .steps(Int(try #require(item.warmup["steps"])))
            }()
            let schedule = try LearningRateSchedule(
                kind: kind, peakLearningRate: item.peak, warmup: warmup, totalSteps: item.totalSteps)
            let label = "\(item.kind) total \(item.totalSteps) warmup \(item.warmup)"
            #expect(schedule.warmupSteps == item.warmupSteps, "\(label)")
            for (step, expected) in item.learningRates.enumerated() {
                let ours = schedule.learningRate(atStep: step)
                let deviation = abs(ours - expected) / max(expected, 1e-300)
                worst = max(worst, deviation)
                #expect(deviation <= 1e-7, "\(label) step \(step): \(ours) vs \(expected)")
            }
        }
        print("schedules vs transformers: worst relative deviation \(worst)")
        // The same Double operations in the same order: the values are identical.
        #expect(worst == 0)
    }

    @Test("Warm-up ratios round up as TrainingArguments.get_warmup_steps (even a product of 7.000000000000001)")
    func warmupRatio() throws {
        #expect(try LearningRateSchedule.warmupSteps(.ratio(0.1), totalSteps: 25) == 3)
        #expect(try LearningRateSchedule.warmupSteps(.ratio(0.14), totalSteps: 50) == 8)
        #expect(try LearningRateSchedule.warmupSteps(.ratio(0), totalSteps: 50) == 0)
        #expect(try LearningRateSchedule.warmupSteps(.ratio(1), totalSteps: 50) == 50)
        #expect(try LearningRateSchedule.warmupSteps(.steps(4), totalSteps: 2) == 4)
    }

    @Test("Schedule shapes: warm-up from 0, linear and cosine end at 0, constant stays at the peak")
    func shapes() throws {
        let linear = try LearningRateSchedule(kind: .linear, peakLearningRate: 1, warmup: .steps(2), totalSteps: 6)
        #expect((0...7).map { linear.learningRate(atStep: $0) } == [0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0])
        let cosine = try LearningRateSchedule(kind: .cosine, peakLearningRate: 1, warmup: .steps(0), totalSteps: 4)
        #expect(cosine.learningRate(atStep: 0) == 1)
        #expect(abs(cosine.learningRate(atStep: 2) - 0.5) <= 1e-15)
        #expect(abs(cosine.learningRate(atStep: 4)) <= 1e-15)
        let constant = try LearningRateSchedule(kind: .constant, peakLearningRate: 3e-4, totalSteps: 5)
        #expect((0..<5).allSatisfy { constant.learningRate(atStep: $0) == 3e-4 })
    }

    @Test("Invalid schedules are errors")
    func invalid() {
        #expect(throws: OptimizationError.self) {
            try LearningRateSchedule(kind: .linear, peakLearningRate: -1, totalSteps: 5)
        }
        #expect(throws: OptimizationError.self) {
            try LearningRateSchedule(kind: .linear, peakLearningRate: .infinity, totalSteps: 5)
        }
        #expect(throws: OptimizationError.self) {
            try LearningRateSchedule(kind: .cosine, peakLearningRate: 1e-4, warmup: .ratio(1.5), totalSteps: 5)
        }
        #expect(throws: OptimizationError.self) {
            try LearningRateSchedule(kind: .cosine, peakLearningRate: 1e-4, warmup: .steps(-1), totalSteps: 5)
        }
        #expect(throws: OptimizationError.self) {
            try LearningRateSchedule(kind: .constant, peakLearningRate: 1e-4, totalSteps: -1)
        }
        #expect(throws: OptimizationError.self) {
            try LearningRateSchedule(kind: .constant, peakLearningRate: 1e-4, warmup: .ratio(.nan), totalSteps: 5)
        }
    }
}
