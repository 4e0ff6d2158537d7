import Foundation
import ModelFormats
import Testing
@testable import Training

/// The `Trainer`: configuration checks, the AdamW golden through the whole step loop, gradient caching,
/// checkpoints, and an error for each bad input.
@Suite struct TrainerTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let training = fixtures.appendingPathComponent("training")
    static let embeddingModel = fixtures.appendingPathComponent("tiny-qwen3-embedding").path
    static let rerankerModel = fixtures.appendingPathComponent("tiny-qwen3-reranker").path

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The adamw-3-steps golden's settings (see Tests/Fixtures/training/README.md).
    static func goldenConfiguration(output: URL) -> TrainingConfiguration {
        var c = TrainingConfiguration(
            modelPath: embeddingModel, dataPath: training.appendingPathComponent("adamw-3-steps/data.jsonl").path,
            outputDirectory: output.path)
        c.loraRank = 4
        c.loraAlpha = 8
        c.initialAdapter = training.appendingPathComponent("embedding-lora/adapter").path
        c.learningRate = 1e-3
        c.weightDecay = 0.01
        c.warmup = .steps(1)
        c.scheduler = .linear
        c.maxGradientNorm = 5
        c.batchSize = 4
        c.length = .steps(3)
        c.shuffle = false
        c.saveSteps = 1
        return c
    }

    // MARK: Configuration

    /// Each invalid setting and the words its error must contain.
    static let invalidSettings: [(expected: String, change: @Sendable (inout TrainingConfiguration) -> Void)] = [
        ("--lora-rank must be at least 1", { $0.loraRank = 0 }),
        ("--lora-alpha must be positive", { $0.loraAlpha = -1 }),
        ("--lora-targets needs at least one", { $0.loraTargets = [] }),
        ("--temperature must be positive", { $0.temperature = 0 }),
        ("--false-negative-margin must be a finite", { $0.falseNegativeMargin = .nan }),
        ("--mini-batch-size must be at least 1", { $0.miniBatchSize = 0 }),
        ("--negatives must be 0 or more", { $0.negatives = -1 }),
        ("--max-length must be at least 2", { $0.maxLength = 1 }),
        ("--learning-rate must be positive", { $0.learningRate = 0 }),
        ("--learning-rate must be a finite", { $0.learningRate = .infinity }),
        ("--weight-decay must be 0 or more", { $0.weightDecay = -0.1 }),
        ("--warmup-steps must be 0 or more", { $0.warmup = .steps(-1) }),
        ("--warmup-ratio must be in [0, 1)", { $0.warmup = .ratio(1) }),
        ("--max-grad-norm must be 0", { $0.maxGradientNorm = -1 }),
        ("--batch-size must be at least 1", { $0.batchSize = 0 }),
        ("--epochs must be at least 1", { $0.length = .epochs(0) }),
        ("--max-steps must be at least 1", { $0.length = .steps(0) }),
        ("--save-steps must be at least 1", { $0.saveSteps = 0 }),
        ("--eval-steps needs --eval-tasks", { $0.evaluationSteps = 5 }),
        ("--init-adapter starts LoRA training", { $0.method = .full; $0.initialAdapter = "a" }),
        ("--merge-lora applies to --method lora", { $0.method = .full; $0.mergeLoRA = true }),
        ("--reranker-loss applies to --task reranker", { $0.rerankerLoss = .listwise }),
        ("apply to --task embedding", { $0.task = .reranker; $0.includeQueryQuery = false }),
        ("listwise needs hard negatives", { $0.task = .reranker; $0.rerankerLoss = .listwise; $0.negatives = 0 }),
        ("nothing to contrast", { $0.negatives = 0; $0.batchSize = 1 }),
        ("--output is the model directory", { $0.outputDirectory = $0.modelPath + "/" }),
        ("--instruction must not be empty", { $0.instruction = "" }),
    ]

    @Test(arguments: 0..<invalidSettings.count)
    func invalidSettingsAreRefusedWithTheirFlag(index: Int) throws {
        let (expected, change) = Self.invalidSettings[index]
        var configuration = TrainingConfiguration(modelPath: "/models/m", dataPath: "train.jsonl", outputDirectory: "out")
        try configuration.validate()  // the defaults are valid
        change(&configuration)
        let error = #expect(throws: TrainerError.self) { try configuration.validate() }
        let message = error?.errorDescription ?? ""
        #expect(message.contains(expected), "\(message)")
        #expect(!message.contains("\n"))
    }

    @Test func stepsAndEpochsCountBatches() {
        var configuration = TrainingConfiguration(modelPath: "m", dataPath: "d", outputDirectory: "o")
        configuration.batchSize = 4
        configuration.length = .epochs(3)
        #expect(configuration.stepsPerEpoch(exampleCount: 10) == 3)
        #expect(configuration.totalSteps(exampleCount: 10) == 9)
        configuration.length = .steps(7)
        #expect(configuration.totalSteps(exampleCount: 10) == 7)
    }

    // MARK: The AdamW golden through the step loop

    /// Three steps of the whole loop (formatting, forward, InfoNCE, backward, clipping, schedule with
    /// warm-up, AdamW with weight decay) give PyTorch's weights after every step within 1e-5, and the
    /// log carries PyTorch's loss, pre-clip norm and learning rate.
    @Test func threeAdamWStepsMatchPyTorch() async throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        let trainer = try Trainer(configuration: Self.goldenConfiguration(output: output))
        let outcome = try await trainer.run()
        #expect(outcome.completedSteps == 3 && !outcome.interrupted)

        let golden = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.training.appendingPathComponent("adamw-3-steps/case.json"))) as! [String: Any]
        let steps = golden["steps"] as! [[String: Any]]
        let log = try String(contentsOf: output.appendingPathComponent("train-log.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(log.count == 3)
        for (index, expected) in steps.enumerated() {
            let line = log[index]
            #expect(line["step"] as? Int == index + 1)
            #expect(abs((line["loss"] as! Double) - (expected["loss"] as! Double)) <= 1e-5, "step \(index + 1) loss")
            #expect(abs((line["grad_norm"] as! Double) - (expected["grad_norm"] as! Double)) <= 1e-4 * (expected["grad_norm"] as! Double))
            #expect(abs((line["learning_rate"] as! Double) - (expected["learning_rate"] as! Double)) <= 1e-12)
            let reference = try SafetensorsFile(
                path: Self.training.appendingPathComponent("adamw-3-steps").appendingPathComponent(expected["weights"] as! String).path)
            let ours = try TrainingCheckpoint.parameters(in: output.appendingPathComponent("checkpoint-\(index + 1)"))
            #expect(ours.count == reference.tensors.count)
            var worst: Float = 0
            for (name, tensor) in reference.tensors {
                let values = try #require(ours[name]?.values, "missing \(name)")
                worst = max(worst, zip(values, tensor.floats()).map { abs($0 - $1) }.max() ?? 0)
            }
            #expect(worst <= 1e-5, "step \(index + 1): max |Δweight| \(worst)")
        }
        // The final adapter is the step-3 weights, written as a PEFT adapter.
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_config.json").path))
    }

    /// Gradient caching: back-propagating in mini-batches of 2 texts with the cached state gradients
    /// gives the gradients of one backward over the whole batch (4 examples × 4 texts).
    @Test func miniBatchesGiveTheFullBatchGradients() async throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        var configuration = Self.goldenConfiguration(output: output)
        var gradients: [[[Float]]] = []
        var losses: [Float] = []
        for miniBatch in [nil, 2] as [Int?] {
            configuration.miniBatchSize = miniBatch
            var session = try await TrainingSession(configuration: configuration, progress: { _ in })
            let batch = session.examples
            let (loss, _) = try session.computeGradients(batch)
            losses.append(loss)
            gradients.append(session.model.parameters.map(\.gradients))
        }
        #expect(losses[0] == losses[1])
        for (full, cached) in zip(gradients[0], gradients[1]) {
            let scale = full.map(abs).max() ?? 0
            let difference = zip(full, cached).map { abs($0 - $1) }.max() ?? 0
            #expect(scale > 0 && difference <= 1e-6 * scale, "max |Δ| \(difference) of max |g| \(scale)")
        }
    }

    // MARK: Bad inputs

    func expectError(_ configuration: TrainingConfiguration, containing expected: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            let trainer = try Trainer(configuration: configuration)
            _ = try await trainer.run()
            Issue.record("no error; expected one containing \"\(expected)\"", sourceLocation: sourceLocation)
        } catch {
            let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            #expect(message.contains(expected), "\(message)", sourceLocation: sourceLocation)
            #expect(!message.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func emptyDataIsAnError() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("empty.jsonl")
        try Data("\n\n".utf8).write(to: data)
        var configuration = Self.goldenConfiguration(output: directory.appendingPathComponent("out"))
        configuration.dataPath = data.path
        await expectError(configuration, containing: "empty.jsonl")
    }

    @Test func aBadLineIsAnErrorNamingFileAndLine() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("bad.jsonl")
        try Data("{\"query\": \"q\", \"positive\": \"p\", \"negatives\": [\"n\"]}\n{\"query\": \"q\"}\n".utf8).write(to: data)
        var configuration = Self.goldenConfiguration(output: directory.appendingPathComponent("out"))
        configuration.dataPath = data.path
        await expectError(configuration, containing: "bad.jsonl:2")
    }

    @Test func tooFewNegativesIsAnErrorUnlessAllowed() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Self.goldenConfiguration(output: directory.appendingPathComponent("out"))
        configuration.negatives = 3  // every example of the golden data has 2
        configuration.length = .steps(1)
        await expectError(configuration, containing: "negatives")
        configuration.allowFewerNegatives = true
        let outcome = try await Trainer(configuration: configuration).run()
        #expect(outcome.completedSteps == 1)
    }

    @Test func aGGUFModelIsRefused() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Self.goldenConfiguration(output: directory.appendingPathComponent("out"))
        configuration.modelPath = Self.fixtures.appendingPathComponent("gguf-llama/embedding-F16.gguf").path
        await expectError(configuration, containing: "GGUF")
    }

    @Test func aRerankerNeedsAnLMHead() async throws {
        // The embedding fixture with untied embeddings and no lm_head.weight: no LM head at all.
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = directory.appendingPathComponent("headless")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.embeddingModel), to: model)
        let configURL = model.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["tie_word_embeddings"] = false
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        var configuration = Self.goldenConfiguration(output: directory.appendingPathComponent("out"))
        configuration.modelPath = model.path
        configuration.task = .reranker
        configuration.initialAdapter = nil
        await expectError(configuration, containing: "LM head")
    }

    /// A loss that overflows stops the run with an error naming the step; the checkpoint before it is intact.
    @Test func aNonFiniteLossStopsAtItsStepWithTheLastCheckpointIntact() async throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        var configuration = Self.goldenConfiguration(output: output)
        configuration.optimizer = .sgd
        configuration.learningRate = 1e36  // the first update sends the LoRA factors to ±inf
        configuration.warmup = .steps(0)
        configuration.maxGradientNorm = 0
        await expectError(configuration, containing: "step 2")
        let saved = try TrainingCheckpoint.parameters(in: output.appendingPathComponent("checkpoint-1"))
        #expect(!saved.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("checkpoint-2").path))
    }

    @Test func resumingWithOtherSettingsIsRefused() async throws {
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        var configuration = Self.goldenConfiguration(output: output)
        configuration.length = .steps(1)
        _ = try await Trainer(configuration: configuration).run()
        configuration.resumeFrom = output.path
        configuration.learningRate = 2e-3
        await expectError(configuration, containing: "learning_rate")
    }

    /// A run stopped after step 1 and resumed ends with the same weights, bit for bit, as one that never stopped.
    @Test func stopAndResumeEqualsAnUninterruptedRun() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Self.goldenConfiguration(output: directory.appendingPathComponent("straight"))
        configuration.saveSteps = nil
        configuration.shuffle = true
        configuration.batchSize = 2
        configuration.negatives = 1
        _ = try await Trainer(configuration: configuration).run()

        configuration.outputDirectory = directory.appendingPathComponent("stopped").path
        let trainer = try Trainer(configuration: configuration)
        let outcome = try await trainer.run { event in
            if case .step = event { trainer.requestStop() }
        }
        #expect(outcome.interrupted && outcome.completedSteps == 1)
        configuration.resumeFrom = configuration.outputDirectory
        let resumed = try await Trainer(configuration: configuration).run()
        #expect(!resumed.interrupted && resumed.completedSteps == 3)
        let straight = try Data(contentsOf: directory.appendingPathComponent("straight/adapter_model.safetensors"))
        let stopped = try Data(contentsOf: directory.appendingPathComponent("stopped/adapter_model.safetensors"))
        #expect(straight == stopped)
        let log = try String(contentsOf: directory.appendingPathComponent("stopped/train-log.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 3)
    }
}
