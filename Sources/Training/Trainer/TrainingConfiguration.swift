import Foundation
import Kernels

/// Everything that decides a fine-tuning run: the model, the data, the objective, the optimiser, the
/// schedule, and where and how often results are written.
///
/// The defaults are the (and PEFT's / PyTorch's where it names them). `validate()` checks every
/// value and combination before anything is loaded, so a typo costs a one-line error rather than a
/// model load; the `Trainer` then checks what needs the files (the data, the model's kind).
public struct TrainingConfiguration: Sendable, Equatable {
    /// What is trained: an embedding model (InfoNCE over pooled states) or a reranker (yes/no logits).
    public enum Task: String, Sendable, CaseIterable, Codable {
        /// The paper's improved InfoNCE over last-token embeddings.
        case embedding
        /// Cross-entropy over the reranker's `[no, yes]` logits at the last position.
        case reranker
    }

    /// Which weights change.
    public enum Method: String, Sendable, CaseIterable, Codable {
        /// Low-rank adapters on frozen base weights (PEFT's LoRA).
        case lora
        /// Every weight of the model.
        case full
    }

    /// The optimiser.
    public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
        /// AdamW with PyTorch's semantics (betas 0.9/0.999, eps 1e-8, decoupled weight decay).
        case adamw
        /// Plain stochastic gradient descent (no momentum).
        case sgd
    }

    /// Arithmetic of the forward and backward passes (master weights, gradients and optimiser state are fp32 either way).
    public enum ArithmeticPrecision: String, Sendable, CaseIterable, Codable {
        /// fp32 products: exact.
        case fp32
        /// bf16 products with fp32 accumulation.
        case bf16

        /// The kernels' precision.
        public var precision: Precision { self == .fp32 ? .float32 : .bfloat16 }
    }

    /// How the run is bounded.
    public enum Length: Sendable, Equatable {
        /// Whole passes over the data (the last batch of an epoch may be smaller).
        case epochs(Int)
        /// A number of optimiser steps, cycling through the data as often as needed.
        case steps(Int)
    }

    // MARK: Inputs and outputs

    /// Hugging Face model directory (safetensors; GGUF files are refused).
    public var modelPath: String
    /// JSON Lines training data (ours, FlagEmbedding's or ms-swift's shape).
    public var dataPath: String
    /// Where the adapter or model, checkpoints and train-log.jsonl go.
    public var outputDirectory: String

    // MARK: Objective

    /// Embedding or reranker training.
    public var task: Task = .embedding
    /// LoRA or full fine-tuning.
    public var method: Method = .lora
    /// LoRA rank r.
    public var loraRank: Int = 16
    /// LoRA alpha (the update is scaled by alpha / r).
    public var loraAlpha: Double = 32
    /// Projections that get adapters (default: all seven).
    public var loraTargets: [LoRATarget] = LoRATarget.allCases
    /// A PEFT adapter directory to start from instead of PEFT's initialisation.
    public var initialAdapter: String?
    /// After LoRA training, also write the merged model to `<output>/merged`.
    public var mergeLoRA = false
    /// InfoNCE temperature τ.
    public var temperature: Double = 0.05
    /// Terms whose similarity exceeds the positive's by more than this are masked as false negatives.
    public var falseNegativeMargin: Double = 0.1
    /// InfoNCE query–query terms.
    public var includeQueryQuery = true
    /// InfoNCE positive–document terms.
    public var includeDocumentDocument = true
    /// Every term with another example (q–q, d–d and q–d); off leaves the example's own hard negatives.
    public var includeInBatchNegatives = true
    /// Reranker loss.
    public var rerankerLoss: RerankerLoss = .pointwise
    /// Texts per backward chunk (gradient caching); nil back-propagates the whole batch at once.
    public var miniBatchSize: Int?
    /// Hard negatives per example; nil takes each example's own list as it is.
    public var negatives: Int?
    /// Accept examples with fewer than `negatives` hard negatives (they use what they have).
    public var allowFewerNegatives = false
    /// Tokens per input, truncated as inference truncates.
    public var maxLength: Int = 8192
    /// Query instruction for examples that carry none (default: the official web-search instruction).
    public var instruction: String?

    // MARK: Optimisation

    /// The optimiser.
    public var optimizer: OptimizerKind = .adamw
    /// Peak learning rate.
    public var learningRate: Double = 1e-4
    /// Decoupled weight decay (AdamW) or L2 decay (SGD).
    public var weightDecay: Double = 0
    /// Warm-up before the schedule.
    public var warmup: LearningRateSchedule.Warmup = .steps(0)
    /// The schedule after warm-up.
    public var scheduler: LearningRateSchedule.Kind = .linear
    /// Gradient clipping by total norm; 0 disables clipping.
    public var maxGradientNorm: Double = 1
    /// Examples per optimiser step.
    public var batchSize: Int = 8
    /// Epochs or steps.
    public var length: Length = .epochs(1)
    /// Seed of the LoRA initialisation, the data order and negative sampling.
    public var seed: UInt64 = 42
    /// Take examples in file order (and negatives in listed order).
    public var shuffle = true
    /// Arithmetic.
    public var precision: ArithmeticPrecision = .fp32
    /// Worker threads (nil: one per core, or `QWEN3_THREADS`).
    public var threads: Int?

    // MARK: Checkpoints, evaluation, logs

    /// Save a checkpoint every N steps (nil: only on interruption).
    public var saveSteps: Int?
    /// A checkpoint directory (or an output directory holding `checkpoint-N` folders) to continue from.
    public var resumeFrom: String?
    /// Evaluation task files run before training, every `evaluationSteps` and at the end.
    public var evaluationTasks: [String] = []
    /// Evaluate every N steps (nil: before and after training only).
    public var evaluationSteps: Int?
    /// At most N items per evaluation task (quick evaluations during training).
    public var evaluationLimit: Int?

    /// A configuration with the defaults and the three paths every run needs.
    public init(modelPath: String, dataPath: String, outputDirectory: String) {
        self.modelPath = modelPath
        self.dataPath = dataPath
        self.outputDirectory = outputDirectory
    }

    /// Checks every value and combination; throws `TrainerError.invalidConfiguration` with a
    /// one-line message naming the flag.
    public func validate() throws {
        func fail(_ message: String) -> TrainerError { .invalidConfiguration(message) }
        func finite(_ value: Double, _ flag: String) throws {
            guard value.isFinite else { throw fail("\(flag) must be a finite number, got \(value)") }
        }
        guard !modelPath.isEmpty else { throw fail("--model is required") }
        guard !dataPath.isEmpty else { throw fail("--data is required") }
        guard !outputDirectory.isEmpty else { throw fail("--output is required") }
        if URL(fileURLWithPath: outputDirectory).standardizedFileURL.path == URL(fileURLWithPath: modelPath).standardizedFileURL.path {
            throw fail("--output is the model directory \(modelPath): writing there would overwrite the model being trained")
        }
        if method == .full {
            guard initialAdapter == nil else { throw fail("--init-adapter starts LoRA training; it does not apply to --method full") }
            guard !mergeLoRA else { throw fail("--merge-lora applies to --method lora (full fine-tuning already writes the model)") }
        }
        guard loraRank >= 1 else { throw fail("--lora-rank must be at least 1, got \(loraRank)") }
        try finite(loraAlpha, "--lora-alpha")
        guard loraAlpha > 0 else { throw fail("--lora-alpha must be positive, got \(loraAlpha)") }
        guard !loraTargets.isEmpty else {
            throw fail("--lora-targets needs at least one of \(LoRATarget.allCases.map(\.rawValue).joined(separator: ","))")
        }
        guard Set(loraTargets).count == loraTargets.count else { throw fail("--lora-targets names a module twice") }
        try finite(temperature, "--temperature")
        guard temperature > 0 else { throw fail("--temperature must be positive, got \(temperature)") }
        try finite(falseNegativeMargin, "--false-negative-margin")
        if let miniBatchSize, miniBatchSize < 1 { throw fail("--mini-batch-size must be at least 1, got \(miniBatchSize)") }
        if let negatives, negatives < 0 { throw fail("--negatives must be 0 or more, got \(negatives)") }
        guard maxLength >= 2 else { throw fail("--max-length must be at least 2 (one text token and the end-of-text token), got \(maxLength)") }
        if let instruction, instruction.isEmpty { throw fail("--instruction must not be empty") }
        try finite(learningRate, "--learning-rate")
        guard learningRate > 0 else { throw fail("--learning-rate must be positive, got \(learningRate)") }
        try finite(weightDecay, "--weight-decay")
        guard weightDecay >= 0 else { throw fail("--weight-decay must be 0 or more, got \(weightDecay)") }
        switch warmup {
        case .steps(let steps): guard steps >= 0 else { throw fail("--warmup-steps must be 0 or more, got \(steps)") }
        case .ratio(let ratio):
            guard ratio.isFinite, ratio >= 0, ratio < 1 else { throw fail("--warmup-ratio must be in [0, 1), got \(ratio)") }
        }
        try finite(maxGradientNorm, "--max-grad-norm")
        guard maxGradientNorm >= 0 else { throw fail("--max-grad-norm must be 0 (no clipping) or more, got \(maxGradientNorm)") }
        guard batchSize >= 1 else { throw fail("--batch-size must be at least 1, got \(batchSize)") }
        switch length {
        case .epochs(let epochs): guard epochs >= 1 else { throw fail("--epochs must be at least 1, got \(epochs)") }
        case .steps(let steps): guard steps >= 1 else { throw fail("--max-steps must be at least 1, got \(steps)") }
        }
        if let threads, threads < 1 { throw fail("--threads must be at least 1, got \(threads)") }
        if let saveSteps, saveSteps < 1 { throw fail("--save-steps must be at least 1, got \(saveSteps)") }
        if let evaluationSteps {
            guard evaluationSteps >= 1 else { throw fail("--eval-steps must be at least 1, got \(evaluationSteps)") }
            guard !evaluationTasks.isEmpty else { throw fail("--eval-steps needs --eval-tasks FILE...") }
        }
        if let evaluationLimit, evaluationLimit < 1 { throw fail("--eval-limit must be at least 1, got \(evaluationLimit)") }
        switch task {
        case .embedding:
            if rerankerLoss != .pointwise { throw fail("--reranker-loss applies to --task reranker") }
            // With one example, no hard negatives and nothing in-batch, Z holds the positive alone and the
            // loss is log 1 = 0 whatever the weights: a run that cannot learn anything.
            if negatives == 0, batchSize == 1 || !includeInBatchNegatives {
                throw fail("nothing to contrast: with --negatives 0 the InfoNCE loss needs in-batch negatives and --batch-size of 2 or more")
            }
        case .reranker:
            if !includeQueryQuery || !includeDocumentDocument || !includeInBatchNegatives {
                throw fail("--no-query-query, --no-document-document and --no-in-batch-negatives apply to --task embedding")
            }
            if rerankerLoss == .listwise, negatives == 0 {
                throw fail("--reranker-loss listwise needs hard negatives (a softmax over the positive alone is constant)")
            }
        }
    }

    /// Optimiser steps for a dataset of `exampleCount` examples.
    public func totalSteps(exampleCount: Int) -> Int {
        switch length {
        case .steps(let steps): return steps
        case .epochs(let epochs): return epochs * stepsPerEpoch(exampleCount: exampleCount)
        }
    }

    /// Batches per pass over the data (the last one may be smaller).
    public func stepsPerEpoch(exampleCount: Int) -> Int {
        (exampleCount + batchSize - 1) / batchSize
    }

}
