import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Training
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TrainingConfiguration.Task: ExpressibleByArgument {}
extension TrainingConfiguration.Method: ExpressibleByArgument {}
extension TrainingConfiguration.OptimizerKind: ExpressibleByArgument {}
extension TrainingConfiguration.ArithmeticPrecision: ExpressibleByArgument {}
extension RerankerLoss: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension LoRATarget: ExpressibleByArgument {}

/// `qwen3-embed train`: fine-tunes an embedding model or reranker (LoRA or full) with the paper's
/// losses; a thin layer over `Training.Trainer`.
struct TrainCommand: AsyncParsableCommand {
    /// How step lines reach the user besides train-log.jsonl.
    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        /// A progress bar on a terminal, milestone lines otherwise (stderr).
        case text
        /// Also every train-log.jsonl line on stdout, as it is written.
        case json
    }

    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune an embedding model or reranker (LoRA or full) on JSON Lines pairs.",
        discussion: """
            Data: one JSON object per line, {"query", "positive", "negatives": [...], "instruction"?} (also \
            FlagEmbedding's {"query", "pos", "neg", "prompt"?} and ms-swift's {"query", "response", \
            "rejected_response"}). The whole file is checked before the first step.
            Writes to --output: the PEFT adapter (LoRA; with --merge-lora also the merged model in \
            <output>/merged) or the model (full), train-log.jsonl (one line per step and per evaluation) and \
            checkpoint-N folders (--save-steps, and on SIGINT/SIGTERM, which stop after the current step \
            and exit 0). --resume continues a run so its result equals an uninterrupted run's bit for bit.
            Example:
              qwen3-embed train --model /models/Qwen3-Embedding-0.6B --data train.jsonl --output runs/lora \\
                  --epochs 1 --batch-size 16 --negatives 3 --learning-rate 1e-4 --save-steps 100
            """)

    @Option(help: "Hugging Face model directory (safetensors) to fine-tune.") var model: String
    @Option(help: "Training data, JSON Lines.") var data: String
    @Option(help: "Output directory (adapter or model, train-log.jsonl, checkpoints).") var output: String
    @Option(help: "embedding (InfoNCE) or reranker (yes/no cross-entropy).") var task: TrainingConfiguration.Task = .embedding
    @Option(help: "lora (adapters on frozen weights) or full (every weight).") var method: TrainingConfiguration.Method = .lora
    @Option(help: "LoRA rank.") var loraRank: Int = 16
    @Option(help: "LoRA alpha (updates scaled by alpha / rank).") var loraAlpha: Double = 32
    @Option(help: "Comma-separated projections to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; default all).")
    var loraTargets: String?
    @Option(help: "Start from this PEFT adapter instead of PEFT's initialisation.") var initAdapter: String?
    @Flag(help: "Also write the base model with the adapter merged into <output>/merged.") var mergeLora = false
    @Option(help: "InfoNCE temperature.") var temperature: Double = 0.05
    @Option(help: "Mask in-batch terms more similar than the positive plus this margin (false negatives).")
    var falseNegativeMargin: Double = 0.1
    @Flag(help: "Drop the query-query terms of InfoNCE.") var noQueryQuery = false
    @Flag(help: "Drop the positive-document terms of InfoNCE.") var noDocumentDocument = false
    @Flag(help: "Drop every term with another example (q-q, d-d, q-d): own hard negatives only.") var noInBatchNegatives = false
    @Option(help: "Reranker loss: pointwise (yes/no per pair) or listwise (softmax over each example's documents).")
    var rerankerLoss: RerankerLoss = .pointwise
    @Option(help: "Back-propagate M texts at a time with cached gradients (same gradients as the whole batch, less memory).")
    var miniBatchSize: Int?
    @Option(help: "Hard negatives per example (sampled with the seed when an example has more).") var negatives: Int?
    @Flag(help: "Accept examples with fewer than --negatives hard negatives.") var allowFewerNegatives = false
    @Option(help: "Maximum tokens per input (truncated as inference truncates).") var maxLength: Int = 8192
    @Option(help: "Query instruction for examples without one (default: the official web-search instruction).")
    var instruction: String?
    @Option(help: "adamw or sgd.") var optimizer: TrainingConfiguration.OptimizerKind = .adamw
    @Option(help: "Peak learning rate.") var learningRate: Double = 1e-4
    @Option(help: "Weight decay.") var weightDecay: Double = 0
    @Option(help: "Linear warm-up steps.") var warmupSteps: Int?
    @Option(help: "Warm-up as a fraction of the total steps (instead of --warmup-steps).") var warmupRatio: Double?
    @Option(help: "Schedule after warm-up: constant, linear or cosine.") var scheduler: LearningRateSchedule.Kind = .linear
    @Option(help: "Clip gradients to this total norm (0 disables clipping).") var maxGradNorm: Double = 1.0
    @Option(help: "Examples per step.") var batchSize: Int = 8
    @Option(help: "Passes over the data (default 1).") var epochs: Int?
    @Option(help: "Stop after N steps instead of whole epochs.") var maxSteps: Int?
    @Option(help: "Seed of the LoRA initialisation, the data order and negative sampling.") var seed: UInt64 = 42
    @Flag(help: "Take examples in file order and negatives in listed order.") var noShuffle = false
    @Option(help: "Arithmetic: fp32 (exact) or bf16 (bf16 products, fp32 accumulation and master weights).")
    var precision: TrainingConfiguration.ArithmeticPrecision = .fp32
    @Option(help: "Worker threads (default: one per core, or $QWEN3_THREADS).") var threads: Int?
    @Option(help: "Write a checkpoint every N steps.") var saveSteps: Int?
    @Option(help: "Continue from a checkpoint directory (or the output directory's latest checkpoint-N).") var resume: String?
    @Option(parsing: .upToNextOption, help: "Evaluation task files to run before training, every --eval-steps and at the end.")
    var evalTasks: [String] = []
    @Option(help: "Evaluate every N steps.") var evalSteps: Int?
    @Option(help: "At most N items per evaluation task (quick evaluations).") var evalLimit: Int?
    @Option(help: "text (progress on stderr) or json (also each train-log.jsonl line on stdout).") var logFormat: LogFormat = .text

    /// The library configuration these flags describe.
    func trainingConfiguration() throws -> TrainingConfiguration {
        var c = TrainingConfiguration(modelPath: model, dataPath: data, outputDirectory: output)
        c.task = task
        c.method = method
        c.loraRank = loraRank
        c.loraAlpha = loraAlpha
        if let loraTargets {
            c.loraTargets = try loraTargets.split(separator: ",", omittingEmptySubsequences: false).map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let target = LoRATarget(rawValue: trimmed) else {
                    throw ValidationError("--lora-targets: unknown module \"\(trimmed)\" (choose from \(LoRATarget.allCases.map(\.rawValue).joined(separator: ",")))")
                }
                return target
            }
        }
        c.initialAdapter = initAdapter
        c.mergeLoRA = mergeLora
        c.temperature = temperature
        c.falseNegativeMargin = falseNegativeMargin
        c.includeQueryQuery = !noQueryQuery
        c.includeDocumentDocument = !noDocumentDocument
        c.includeInBatchNegatives = !noInBatchNegatives
        c.rerankerLoss = rerankerLoss
        c.miniBatchSize = miniBatchSize
        c.negatives = negatives
        c.allowFewerNegatives = allowFewerNegatives
        c.maxLength = maxLength
        c.instruction = instruction
        c.optimizer = optimizer
        c.learningRate = learningRate
        c.weightDecay = weightDecay
        switch (warmupSteps, warmupRatio) {
        case (.some, .some): throw ValidationError("give --warmup-steps or --warmup-ratio, not both")
        case (let steps?, nil): c.warmup = .steps(steps)
        case (nil, let ratio?): c.warmup = .ratio(ratio)
        case (nil, nil): c.warmup = .steps(0)
        }
        c.scheduler = scheduler
        c.maxGradientNorm = maxGradNorm
        c.batchSize = batchSize
        switch (epochs, maxSteps) {
        case (.some, .some): throw ValidationError("give --epochs or --max-steps, not both")
        case (let epochs?, nil): c.length = .epochs(epochs)
        case (nil, let steps?): c.length = .steps(steps)
        case (nil, nil): c.length = .epochs(1)
        }
        c.seed = seed
        c.shuffle = !noShuffle
        c.precision = precision
        c.threads = threads
        c.saveSteps = saveSteps
        c.resumeFrom = resume
        c.evaluationTasks = evalTasks
        c.evaluationSteps = evalSteps
        c.evaluationLimit = evalLimit
        return c
    }

    func validate() throws {
        let c = try trainingConfiguration()
        if method == .full, loraTargets != nil || loraRank != 16 || loraAlpha != 32 {
            throw ValidationError("--lora-rank, --lora-alpha and --lora-targets apply to --method lora")
        }
        if let threads, !(1...KernelEnvironment.maximumThreads).contains(threads) {
            throw ValidationError("--threads must be between 1 and \(KernelEnvironment.maximumThreads), got \(threads)")
        }
        do {
            try c.validate()
        } catch let error as TrainerError {
            throw ValidationError(error.errorDescription ?? "\(error)")
        }
    }

    func run() async throws {
        let trainer = try Trainer(configuration: trainingConfiguration())
        let signals = StopSignals(trainer: trainer)
        defer { signals.cancel() }
        let display = TrainingDisplay(json: logFormat == .json)
        let outcome = try await trainer.run { event in display.show(event) }
        try display.checkOutput()
        try StandardStreams.flushPrintedOutput()
        if outcome.interrupted {
            let checkpoint = outcome.lastCheckpoint?.path ?? output
            display.finish("stopped at step \(outcome.completedSteps); checkpoint \(checkpoint) (continue with --resume \(checkpoint))")
        } else {
            display.finish("trained \(outcome.completedSteps) steps; wrote \(outcome.outputs.map(\.path).joined(separator: " and "))")
        }
    }
}

/// SIGINT and SIGTERM ask the trainer to stop after its current step (it then saves a checkpoint and
/// the command exits 0); a second signal exits at once, for a user who does not want to wait.
final class StopSignals {
    private let sources: [any DispatchSourceSignal]

    init(trainer: Trainer) {
        let queue = DispatchQueue(label: "qwen3-embed.train.signals")
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)  // delivered to the dispatch source instead of killing the process
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if trainer.stopRequested {
                    StandardStreams.writeDiagnostic("qwen3-embed: second signal: exiting without a checkpoint\n")
                    _exit(130)
                }
                StandardStreams.writeDiagnostic("qwen3-embed: stopping after the current step (a checkpoint will be saved)\n")
                trainer.requestStop()
            }
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}

/// The user's view of a run: a progress bar on a terminal (step/total, loss, learning rate, tokens/s,
/// ETA), plain `qwen3-embed: …` milestone lines otherwise, and with `--log-format json` every log line
/// on stdout.
final class TrainingDisplay: @unchecked Sendable {
    private let json: Bool
    private let interactive = isatty(2) == 1
    private let lock = NSLock()
    private var totalSteps = 0
    private var firstStep = 0
    private var started = Date()
    private var lastMilestone = -1
    private var barShown = false

    init(json: Bool) { self.json = json }

    func show(_ event: TrainingEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .note(let message):
            line(message)
        case .started(let plan):
            totalSteps = plan.totalSteps
            firstStep = plan.completedSteps
            started = Date()
            line("training \(plan.trainableValues) values on \(plan.examples) examples: \(plan.totalSteps) steps"
                 + (plan.completedSteps > 0 ? " (resuming after step \(plan.completedSteps))" : ""))
        case .step(let record):
            if json { emit(record.jsonLine) }
            let elapsed = Date().timeIntervalSince(started)
            let done = record.step - firstStep
            let eta = done > 0 ? elapsed / Double(done) * Double(totalSteps - record.step) : 0
            let summary = "step \(record.step)/\(totalSteps) loss \(String(format: "%.4f", record.loss)) "
                + "lr \(String(format: "%.3g", record.learningRate)) \(Int(record.tokensPerSecond)) tok/s ETA \(Self.duration(eta))"
            if interactive {
                let width = 30
                let filled = totalSteps > 0 ? width * min(record.step, totalSteps) / totalSteps : width
                let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
                StandardStreams.writeDiagnostic("\rtrain [\(bar)] \(summary)\u{1B}[K")
                barShown = true
            } else {
                // About ten lines per run, plus the first and the last step.
                let milestone = totalSteps > 0 ? record.step * 10 / totalSteps : 0
                if milestone != lastMilestone || record.step == totalSteps || record.step == firstStep + 1 {
                    lastMilestone = milestone
                    StandardStreams.writeDiagnostic("qwen3-embed: \(summary)\n")
                }
            }
        case .evaluation(let record):
            if json { emit(record.jsonLine) }
            for result in record.results {
                line("eval step \(record.step): \(result.task) \(result.mainScoreName) \(String(format: "%.5f", result.mainScore))")
            }
        case .checkpoint(let step, let directory):
            line("step \(step): checkpoint \(directory.path)")
        }
    }

    /// The closing status line.
    func finish(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        line(message)
    }

    private func line(_ message: String) {
        if interactive, barShown {
            StandardStreams.writeDiagnostic("\n")
            barShown = false
        }
        StandardStreams.writeDiagnostic(interactive ? "\(message)\n" : "qwen3-embed: \(message)\n")
    }

    /// The first failure to write to stdout (closed, full, reader gone), reported when the run ends:
    /// training goes on (train-log.jsonl has every line) rather than dying mid-step.
    private(set) var outputFailure: Error?

    /// Writes a log line on stdout.
    private func emit(_ text: String) {
        guard outputFailure == nil else { return }
        do {
            try StandardStreams.writeOutput(text + "\n")
        } catch {
            outputFailure = error
        }
    }

    /// Throws the first stdout failure, if any.
    func checkOutput() throws {
        lock.lock()
        defer { lock.unlock() }
        if let outputFailure { throw outputFailure }
    }

    private static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let total = Int(seconds.rounded())
        return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}
