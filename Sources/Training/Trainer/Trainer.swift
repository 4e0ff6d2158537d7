import Evaluation
import Foundation
import Kernels
import ModelFormats
import Qwen3
import Qwen3Embedding
import Synchronization
import Tokenizer

/// What a `Trainer` reports while it runs (the CLI draws its progress bar and log lines from these).
public enum TrainingEvent: Sendable {
    /// A status line ("loading …", "evaluating …").
    case note(String)
    /// Training is about to take its first step (or its first step after a resume).
    case started(TrainingPlan)
    /// A step finished; its record is already in train-log.jsonl.
    case step(TrainingStepRecord)
    /// An evaluation finished; its record is already in train-log.jsonl.
    case evaluation(TrainingEvaluationRecord)
    /// A checkpoint was written.
    case checkpoint(step: Int, directory: URL)
}

/// The shape of a run, known once the data is read.
public struct TrainingPlan: Sendable, Equatable {
    /// Training examples.
    public var examples: Int
    /// Optimiser steps of the whole run.
    public var totalSteps: Int
    /// Steps already done (from a resumed checkpoint; 0 for a new run).
    public var completedSteps: Int
    /// Batches per pass over the data.
    public var stepsPerEpoch: Int
    /// Trainable scalars.
    public var trainableValues: Int
}

/// How a run ended.
public struct TrainingOutcome: Sendable, Equatable {
    /// Optimiser steps done.
    public var completedSteps: Int
    /// Whether the run stopped early at `requestStop()` (SIGINT/SIGTERM in the CLI).
    public var interrupted: Bool
    /// The last checkpoint written, if any.
    public var lastCheckpoint: URL?
    /// What was written at the end (the adapter or model directory, the merged model); empty when interrupted.
    public var outputs: [URL]
    /// The loss of the last step.
    public var lastLoss: Float?
}

/// Fine-tunes a Qwen3 embedding model or reranker on the CPU: the Swift API under `qwen3-embed train`.
///
/// ```swift
/// var configuration = TrainingConfiguration(modelPath: "/models/Qwen3-Embedding-0.6B",
///                                           dataPath: "train.jsonl", outputDirectory: "runs/lora")
/// configuration.length = .epochs(2)
/// let trainer = try Trainer(configuration: configuration)
/// let outcome = try await trainer.run { event in if case .step(let record) = event { print(record.loss) } }
/// ```
///
/// A step takes `batchSize` examples in the data order (shuffled per epoch with the seed, or file order),
/// runs the whole batch forward without recording, computes the loss and the gradient of every
/// last-token state, then back-propagates in chunks of `miniBatchSize` texts with those cached
/// gradients (the gradients equal one full-batch backward), clips, and takes an optimiser step at the
/// scheduled learning rate. Every step is appended to `train-log.jsonl`; checkpoints, evaluations and
/// the final outputs go to the output directory.
public final class Trainer: Sendable {
    /// The run's settings (validated by `init`).
    public let configuration: TrainingConfiguration
    private let stopFlag = Atomic<Bool>(false)

    /// A trainer for `configuration`.
    ///
    /// - Throws: `TrainerError.invalidConfiguration` for a bad value or combination.
    public init(configuration: TrainingConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// Asks the run to stop after the step in progress: it saves a checkpoint and returns an
    /// `interrupted` outcome. Safe to call from any thread (a signal handler's queue).
    public func requestStop() {
        stopFlag.store(true, ordering: .sequentiallyConsistent)
    }

    /// Whether `requestStop()` was called.
    public var stopRequested: Bool { stopFlag.load(ordering: .sequentiallyConsistent) }

    /// Runs the whole training: validates the data, the evaluation tasks and the model, trains, and
    /// writes the outputs.
    ///
    /// - Parameter progress: receives every event, on the caller's task, in order.
    /// - Throws: `TrainerError` (and the model, data and evaluation loaders' own errors), each one line.
    public func run(progress: @escaping @Sendable (TrainingEvent) -> Void = { _ in }) async throws -> TrainingOutcome {
        var session = try await TrainingSession(configuration: configuration, progress: progress)
        return try await session.train(stopRequested: { [self] in stopRequested })
    }
}

/// One run's state: the model, the data order, the optimiser; what checkpoints save.
struct TrainingSession {
    let configuration: TrainingConfiguration
    let progress: @Sendable (TrainingEvent) -> Void
    let output: URL
    let examples: [TrainingExample]
    let model: TrainableModel
    let formatter: TrainingTextFormatter
    let evaluator: TrainingEvaluator?
    let schedule: LearningRateSchedule
    let totalSteps: Int
    let infoNCE: InfoNCELoss
    var optimizer: any Optimizer
    var generator: SeededGenerator
    var epoch = 0
    var position = 0
    var order: [Int] = []
    var step = 0
    var lastCheckpoint: URL?
    let resumed: Bool
    private var tokenCache: [String: [Int]] = [:]

    /// Loads and checks everything, in the order that fails fastest: the model's format, the data,
    /// the evaluation tasks and the checkpoint to resume, then the model itself.
    init(configuration c: TrainingConfiguration, progress: @escaping @Sendable (TrainingEvent) -> Void) async throws {
        configuration = c
        self.progress = progress
        output = URL(fileURLWithPath: c.outputDirectory)
        try Self.checkModelFormat(c.modelPath)

        progress(.note("reading \(c.dataPath)"))
        examples = try TrainingDataset(file: URL(fileURLWithPath: c.dataPath), negatives: c.negatives, allowFewerNegatives: c.allowFewerNegatives).examples
        evaluator = c.evaluationTasks.isEmpty ? nil : try TrainingEvaluator(files: c.evaluationTasks, limit: c.evaluationLimit)

        totalSteps = c.totalSteps(exampleCount: examples.count)
        var checkpoint: (url: URL, state: TrainingCheckpoint)?
        if let path = c.resumeFrom {
            let url = try TrainingCheckpoint.locate(URL(fileURLWithPath: path))
            let state = try TrainingCheckpoint.read(from: url)
            try state.requireSettings(Self.settings(c, exampleCount: examples.count), checkpoint: url)
            guard state.step <= totalSteps, state.order.count == examples.count else {
                throw TrainerError.badCheckpoint("\(url.path) does not fit this run (step \(state.step) of \(totalSteps), \(state.order.count) examples)")
            }
            checkpoint = (url, state)
        }
        resumed = checkpoint != nil

        progress(.note("loading \(c.modelPath)"))
        let tokenizer = try Tokenizer.load(modelAt: URL(fileURLWithPath: c.modelPath))
        let method: TrainingMethod = c.method == .full
            ? .full : .lora(LoRAConfiguration(rank: c.loraRank, alpha: Float(c.loraAlpha), targets: c.loraTargets))
        model = try TrainableModel(
            directory: URL(fileURLWithPath: c.modelPath), method: method, precision: c.precision.precision, seed: c.seed,
            initialLoRAValues: try c.initialAdapter.map { try Self.initialValues(adapter: $0, configuration: c) },
            pool: c.threads.map(ComputePool.init(width:)) ?? .shared)
        formatter = try TrainingTextFormatter(model: model, tokenizer: tokenizer, maxLength: c.maxLength, task: c.task)

        schedule = try LearningRateSchedule(kind: c.scheduler, peakLearningRate: c.learningRate, warmup: c.warmup, totalSteps: totalSteps)
        switch c.optimizer {
        case .adamw: optimizer = try AdamW(weightDecay: c.weightDecay)
        case .sgd: optimizer = try SGD(weightDecay: c.weightDecay)
        }
        infoNCE = InfoNCELoss(
            temperature: c.temperature, falseNegativeMargin: c.falseNegativeMargin, includeQueryQuery: c.includeQueryQuery,
            includeDocumentDocument: c.includeDocumentDocument, includeInBatchNegatives: c.includeInBatchNegatives)
        // The data stream has its own generator, apart from the LoRA initialisation's (same seed, other stream).
        generator = SeededGenerator(seed: c.seed ^ 0x6461_7461_6F72_6465)

        if let (url, state) = checkpoint {
            try restore(from: url, state: state)
            progress(.note("resuming from \(url.path) at step \(state.step)"))
        } else {
            order = nextOrder()
        }
    }

    /// Trains to the end or until `stopRequested()`, then writes the outputs.
    mutating func train(stopRequested: () -> Bool) async throws -> TrainingOutcome {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let log = try TrainingLog(directory: output, keepingStepsThrough: resumed ? step : nil)
        progress(.started(TrainingPlan(
            examples: examples.count, totalSteps: totalSteps, completedSteps: step,
            stepsPerEpoch: configuration.stepsPerEpoch(exampleCount: examples.count),
            trainableValues: model.parameters.reduce(0) { $0 + $1.count })))
        if evaluator != nil, !resumed { try await evaluate(log: log) }

        var lastLoss: Float?
        while step < totalSteps {
            let record = try takeStep()
            lastLoss = record.loss
            try log.append(record.jsonLine)
            progress(.step(record))
            if let every = configuration.saveSteps, step % every == 0 { try saveCheckpoint() }
            if let every = configuration.evaluationSteps, step % every == 0, step < totalSteps { try await evaluate(log: log) }
            if stopRequested(), step < totalSteps {
                if lastCheckpoint?.lastPathComponent != TrainingCheckpoint.directoryName(step: step) { try saveCheckpoint() }
                return TrainingOutcome(completedSteps: step, interrupted: true, lastCheckpoint: lastCheckpoint, outputs: [], lastLoss: lastLoss)
            }
        }
        let outputs = try writeOutputs()
        if evaluator != nil { try await evaluate(log: log) }
        return TrainingOutcome(completedSteps: step, interrupted: false, lastCheckpoint: lastCheckpoint, outputs: outputs, lastLoss: lastLoss)
    }

    // MARK: One step

    /// Takes the next batch, computes the loss and gradients, clips and updates; returns the step's record.
    mutating func takeStep() throws -> TrainingStepRecord {
        let began = Date()
        if position >= order.count {
            epoch += 1
            position = 0
            order = nextOrder()
        }
        let indices = order[position..<min(order.count, position + configuration.batchSize)]
        position += indices.count
        let batch = indices.map { sampledExample(examples[$0]) }
        let (loss, tokens) = try computeGradients(batch)
        let stepNumber = step + 1
        guard loss.isFinite else { throw TrainerError.nonFiniteLoss(step: stepNumber, checkpoint: lastCheckpoint?.path) }
        let norm = GradientClipping.clip(model.parameters, maxNorm: Float(configuration.maxGradientNorm))
        // A finite loss with non-finite gradients would poison the weights (and the next checkpoint).
        guard norm.isFinite else { throw TrainerError.nonFiniteLoss(step: stepNumber, checkpoint: lastCheckpoint?.path) }
        let learningRate = schedule.learningRate(atStep: step)
        optimizer.step(model.parameters, learningRate: learningRate)
        model.parametersDidChange()
        step = stepNumber
        let seconds = max(Date().timeIntervalSince(began), 1e-9)
        return TrainingStepRecord(
            step: step, epoch: Double(epoch) + Double(position) / Double(order.count), loss: loss, learningRate: learningRate,
            gradientNorm: norm, tokensPerSecond: Double(tokens) / seconds, tokens: tokens)
    }

    /// Zeroes the gradients and accumulates those of `batch`'s loss; returns the loss (computed before
    /// any update) and the tokens run.
    mutating func computeGradients(_ batch: [TrainingExample]) throws -> (loss: Float, tokens: Int) {
        model.zeroGradients()
        switch configuration.task {
        case .embedding: return try embeddingGradients(batch)
        case .reranker: return try rerankerGradients(batch)
        }
    }

    private mutating func embeddingGradients(_ batch: [TrainingExample]) throws -> (loss: Float, tokens: Int) {
        var sequences: [[Int]] = []
        for example in batch {
            sequences.append(tokens(example.query, instruction: example.instruction(configured: configuration.instruction)))
            for document in example.documents { sequences.append(tokens(document, instruction: nil)) }
        }
        let states = try model.lastHiddenStates(sequences, retainingActivations: retainsActivations(sequences.count))
        var queries: [[Float]] = [], documents: [[[Float]]] = [], texts: [[String]] = []
        var cursor = 0
        for example in batch {
            let count = 1 + example.negatives.count
            queries.append(states[cursor])
            documents.append(Array(states[(cursor + 1)...(cursor + count)]))
            texts.append(example.documents)
            cursor += 1 + count
        }
        let result = infoNCE.evaluate(queries: queries, documents: documents, documentTexts: texts)
        let tokens = sequences.reduce(0) { $0 + $1.count }
        guard result.loss.isFinite else { return (result.loss, tokens) }
        var gradients: [[Float]] = []
        for (query, documents) in zip(result.queryGradients, result.documentGradients) {
            gradients.append(query)
            gradients += documents
        }
        try backward(sequences, gradients)
        return (result.loss, tokens)
    }

    private mutating func rerankerGradients(_ batch: [TrainingExample]) throws -> (loss: Float, tokens: Int) {
        var sequences: [[Int]] = []
        for example in batch {
            let instruction = example.instruction ?? configuration.instruction
            for document in example.documents {
                sequences.append(formatter.rerankerIDs(query: example.query, document: document, instruction: instruction))
            }
        }
        let rows = try formatter.rerankerRows()
        let states = try model.lastHiddenStates(sequences, retainingActivations: retainsActivations(sequences.count))
        let logits = try model.headLogits(states: states, rows: rows)
        var grouped: [[[Float]]] = []
        var cursor = 0
        for example in batch {
            let count = 1 + example.negatives.count
            grouped.append(Array(logits[cursor..<(cursor + count)]))
            cursor += count
        }
        let (loss, logitGradients) = configuration.rerankerLoss.evaluate(logits: grouped)
        let tokens = sequences.reduce(0) { $0 + $1.count }
        guard loss.isFinite else { return (loss, tokens) }
        let stateGradients = try model.headBackward(states: states, rows: rows, logitGradients: logitGradients.flatMap { $0 })
        try backward(sequences, stateGradients)
        return (loss, tokens)
    }

    /// Whether the forward that computes the loss should keep its activations: only when the whole batch
    /// is then back-propagated at once, so the backward can skip a second forward (same numbers either way).
    private func retainsActivations(_ count: Int) -> Bool {
        (configuration.miniBatchSize ?? count) >= count
    }

    /// Back-propagates `sequences` with their cached last-state gradients, `miniBatchSize` texts at a
    /// time (gradient caching: the sum over chunks is the full batch's gradient).
    private func backward(_ sequences: [[Int]], _ gradients: [[Float]]) throws {
        let chunk = configuration.miniBatchSize ?? sequences.count
        for start in stride(from: 0, to: sequences.count, by: chunk) {
            let end = min(sequences.count, start + chunk)
            try model.accumulateGradients(Array(sequences[start..<end]), lastHiddenStateGradients: Array(gradients[start..<end]))
        }
    }

    /// Token ids of an embedding text, remembered across steps (epochs see the same texts again).
    private mutating func tokens(_ text: String, instruction: String?) -> [Int] {
        let key = (instruction.map { "q\u{0}\($0)\u{0}" } ?? "d\u{0}") + text
        if let ids = tokenCache[key] { return ids }
        let ids = formatter.embeddingIDs(text, instruction: instruction)
        tokenCache[key] = ids
        return ids
    }

    // MARK: Data order

    /// The next epoch's order: shuffled with the generator, or file order with `--no-shuffle`.
    private mutating func nextOrder() -> [Int] {
        configuration.shuffle ? Array(0..<examples.count).shuffled(using: &generator) : Array(0..<examples.count)
    }

    /// `example` with `--negatives K` applied (sampled with the generator when it lists more).
    private mutating func sampledExample(_ example: TrainingExample) -> TrainingExample {
        guard let wanted = configuration.negatives else { return example }
        return example.selectingNegatives(wanted, shuffle: configuration.shuffle, using: &generator)
    }

    // MARK: Evaluation, checkpoints, outputs

    private func evaluate(log: TrainingLog) async throws {
        guard let evaluator else { return }
        progress(.note(step == 0 ? "evaluating the untrained model" : "evaluating after step \(step)"))
        let scores = try await evaluator.evaluate(formatter, model: model, task: configuration.task)
        let record = TrainingEvaluationRecord(
            step: step, epoch: order.isEmpty ? 0 : Double(epoch) + Double(position) / Double(order.count), results: scores)
        try log.append(record.jsonLine)
        progress(.evaluation(record))
    }

    /// Writes `<output>/checkpoint-<step>`.
    mutating func saveCheckpoint() throws {
        let directory = output.appendingPathComponent(TrainingCheckpoint.directoryName(step: step))
        let state = optimizer.state
        let checkpoint = TrainingCheckpoint(
            step: step, epoch: epoch, position: position, order: order, generatorState: generator.state,
            settings: Self.settings(configuration, exampleCount: examples.count), optimizerStepCount: state.step)
        try checkpoint.write(
            to: directory,
            parameters: model.parameters.map { CheckpointTensor(name: $0.name, shape: $0.shape, values: $0.values) },
            optimizerState: state.tensors.map { CheckpointTensor(name: $0.name, shape: $0.shape, values: $0.values) },
            extras: { [self] partial in
                if configuration.method == .lora { try saveAdapter(to: partial) }
            })
        lastCheckpoint = directory
        progress(.checkpoint(step: step, directory: directory))
    }

    /// Puts the run back where the checkpoint left it: trainable values, optimiser state, data order, generator.
    private mutating func restore(from url: URL, state: TrainingCheckpoint) throws {
        let saved = try TrainingCheckpoint.parameters(in: url)
        guard saved.count == model.parameters.count else {
            throw TrainerError.badCheckpoint("\(url.path) holds \(saved.count) trainable tensors, this run trains \(model.parameters.count)")
        }
        for parameter in model.parameters {
            guard let tensor = saved[parameter.name], tensor.shape == parameter.shape else {
                throw TrainerError.badCheckpoint("\(url.path): \(parameter.name) is missing or has another shape")
            }
            parameter.values = tensor.values
        }
        model.parametersDidChange()
        let tensors = try TrainingCheckpoint.optimizerState(in: url)
        // The optimiser checks names and shapes against the parameters; its order is the parameters'.
        let ordered = model.parameters.flatMap { parameter in
            tensors.values.filter { $0.name.hasPrefix(parameter.name + ".") }.sorted { $0.name < $1.name }
        }
        do {
            try optimizer.restore(
                OptimizerState(step: state.optimizerStepCount,
                               tensors: ordered.map { OptimizerStateTensor(name: $0.name, shape: $0.shape, values: $0.values) }),
                parameters: model.parameters)
        } catch {
            throw TrainerError.badCheckpoint("\(url.path): \(error.localizedDescription)")
        }
        step = state.step
        epoch = state.epoch
        position = state.position
        order = state.order
        generator = SeededGenerator(seed: state.generatorState)
        lastCheckpoint = url
    }

    /// Writes the LoRA factors as a PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`).
    private func saveAdapter(to directory: URL) throws {
        guard case .lora(let lora) = model.method else { return }
        let writer = PEFTAdapterWriter(
            configuration: lora, namesCarryModelPrefix: model.namePrefix == "model.", baseModelNameOrPath: configuration.modelPath,
            taskType: configuration.task == .embedding ? "FEATURE_EXTRACTION" : nil)
        try writer.write(model.parameters, to: directory)
    }

    /// Writes the trained adapter (LoRA; plus the merged model with `--merge-lora`) or model (full).
    private func writeOutputs() throws -> [URL] {
        switch configuration.method {
        case .lora:
            try saveAdapter(to: output)
            progress(.note("wrote the adapter to \(output.path)"))
            guard configuration.mergeLoRA else { return [output] }
            let merged = output.appendingPathComponent("merged")
            try model.saveModel(to: merged)
            progress(.note("wrote the merged model to \(merged.path)"))
            return [output, merged]
        case .full:
            try model.saveModel(to: output)
            progress(.note("wrote the model to \(output.path)"))
            return [output]
        }
    }

    // MARK: Checks

    /// The starting LoRA values of `--init-adapter`, keyed by canonical name, after checking that the
    /// adapter's rank, alpha and modules are those of this run (a different adapter would silently
    /// change the model being trained).
    static func initialValues(adapter path: String, configuration c: TrainingConfiguration) throws -> [String: [Float]] {
        let adapter = try LoRAAdapter(directory: path, configuration: try Qwen3Configuration.load(directory: c.modelPath))
        let modules = Set(adapter.factors.values.map(\.module.rawValue))
        let wanted = Set(c.loraTargets.map(\.rawValue))
        guard adapter.rank == c.loraRank, adapter.alpha == c.loraAlpha, !adapter.usesRankStabilizedScale, modules == wanted else {
            throw TrainerError.invalidConfiguration(
                "--init-adapter \(path) has rank \(adapter.rank), alpha \(adapter.alpha)\(adapter.usesRankStabilizedScale ? " (rsLoRA)" : "") on "
                + "\(modules.sorted().joined(separator: ",")); run with --lora-rank \(adapter.rank) --lora-alpha \(adapter.alpha) "
                + "--lora-targets \(modules.sorted().joined(separator: ",")) to continue it")
        }
        var values: [String: [Float]] = [:]
        for factor in adapter.factors.values {
            let module = "layers.\(factor.layer).\(factor.module.pathInLayer)"
            values[module + ".lora_A.weight"] = factor.a
            values[module + ".lora_B.weight"] = factor.b
        }
        return values
    }

    /// Refuses a GGUF model or a missing path before anything else is read.
    static func checkModelFormat(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainerError.unsuitableModel("--model \(path): no such file or directory")
        }
        if case .gguf = try? ModelLocation(path: path) {
            throw TrainerError.unsuitableModel(
                "\(path) is a GGUF model; training needs the Hugging Face safetensors directory (train from safetensors, quantize afterwards)")
        }
        guard isDirectory.boolValue else { throw TrainerError.unsuitableModel("--model \(path) is not a model directory") }
    }

    /// The settings a resumed run must share with the checkpoint's (everything that changes the
    /// weights; not where or how often results are written).
    static func settings(_ c: TrainingConfiguration, exampleCount: Int) -> [String: String] {
        let length: String
        switch c.length {
        case .epochs(let epochs): length = "\(epochs) epochs"
        case .steps(let steps): length = "\(steps) steps"
        }
        let warmup: String
        switch c.warmup {
        case .steps(let steps): warmup = "\(steps) steps"
        case .ratio(let ratio): warmup = "ratio \(ratio)"
        }
        return [
            "model": URL(fileURLWithPath: c.modelPath).standardizedFileURL.path,
            "data": URL(fileURLWithPath: c.dataPath).standardizedFileURL.path, "examples": String(exampleCount),
            "task": c.task.rawValue, "method": c.method.rawValue,
            "lora": c.method == .lora ? "r\(c.loraRank) alpha\(c.loraAlpha) \(c.loraTargets.map(\.rawValue).joined(separator: ","))" : "-",
            "init_adapter": c.initialAdapter ?? "-",
            "loss": c.task == .embedding
                ? "infonce t\(c.temperature) margin\(c.falseNegativeMargin) qq\(c.includeQueryQuery) dd\(c.includeDocumentDocument) batch\(c.includeInBatchNegatives)"
                : c.rerankerLoss.rawValue,
            "mini_batch_size": c.miniBatchSize.map(String.init) ?? "-", "negatives": c.negatives.map(String.init) ?? "-",
            "allow_fewer_negatives": String(c.allowFewerNegatives), "max_length": String(c.maxLength),
            "instruction": c.instruction ?? "-", "optimizer": c.optimizer.rawValue, "learning_rate": String(c.learningRate),
            "weight_decay": String(c.weightDecay), "warmup": warmup, "scheduler": c.scheduler.rawValue,
            "max_grad_norm": String(c.maxGradientNorm), "batch_size": String(c.batchSize), "length": length,
            "seed": String(c.seed), "shuffle": String(c.shuffle), "precision": c.precision.rawValue,
        ]
    }
}
