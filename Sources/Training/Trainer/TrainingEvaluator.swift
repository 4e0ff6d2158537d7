import Evaluation
import Foundation
import Kernels
import Qwen3Embedding
import Tokenizer

/// Runs evaluation task files (`--eval-tasks`) on the model being trained, with its current weights
/// (the LoRA adapter applied), through the same harness as `qwen3-embed eval`.
struct TrainingEvaluator {
    /// The tasks, read and validated before the first step.
    let tasks: [LoadedTask]

    /// Reads and validates `files` (a bad task file is an error before any training).
    init(files: [String], limit: Int?) throws {
        tasks = try EvaluationSession.loadTasks(files: files.map { URL(fileURLWithPath: $0) }, limit: limit)
    }

    /// Every task's main score and metrics with the model as it is now.
    func evaluate(_ formatter: TrainingTextFormatter, model: TrainableModel, task: TrainingConfiguration.Task) async throws
        -> [TrainingEvaluationRecord.Score] {
        let encoder = TrainableModelEncoder(model: model, formatter: formatter)
        let scorer: (any PairScorer)? = task == .reranker ? TrainableModelScorer(model: model, formatter: formatter) : nil
        let runner = TaskRunner(embeddings: EmbeddingService(encoder: encoder), reranker: scorer)
        var scores: [TrainingEvaluationRecord.Score] = []
        for task in tasks {
            let result = try await runner.run(task)
            scores.append(.init(task: result.task, mainScoreName: result.mainScoreName, mainScore: result.mainScore, scores: result.scores))
        }
        return scores
    }
}

/// The model being trained as an evaluation `TextEncoder`: texts formatted and tokenised exactly as
/// `Embedder` does, embedded as the L2-normalised last-token state.
///
/// Unchecked `Sendable`: the trainer only evaluates between steps, so nothing changes the weights
/// while the encoder reads them.
struct TrainableModelEncoder: TextEncoder, @unchecked Sendable {
    let model: TrainableModel
    let formatter: TrainingTextFormatter
    /// Not cached (the weights change between evaluations), so any stable name will do.
    var identifier: String { "training-\(model.directory.lastPathComponent)" }

    func encode(_ texts: [String], instruction: String?) async throws -> (vectors: [[Float]], tokens: Int) {
        let sequences = texts.map { formatter.embeddingIDs($0, instruction: instruction) }
        var vectors = try model.lastHiddenStates(sequences)
        for index in vectors.indices { VectorMath.l2Normalize(&vectors[index]) }
        return (vectors, sequences.reduce(0) { $0 + $1.count })
    }
}

/// The model being trained as an evaluation `PairScorer`: the reranker's score, sigmoid(yes − no), of
/// the official prompt.
struct TrainableModelScorer: PairScorer, @unchecked Sendable {
    let model: TrainableModel
    let formatter: TrainingTextFormatter

    func score(pairs: [(query: String, document: String)], instruction: String?) async throws -> [Float] {
        let sequences = pairs.map { formatter.rerankerIDs(query: $0.query, document: $0.document, instruction: instruction) }
        let states = try model.lastHiddenStates(sequences)
        let logits = try model.headLogits(states: states, rows: try formatter.rerankerRows())
        return logits.map { pair in Float(1 / (1 + exp(-(Double(pair[1]) - Double(pair[0]))))) }
    }
}

/// Turns training and evaluation texts into token ids exactly as inference does, by asking the
/// inference types themselves: `Embedder.tokenize` (queries formatted with their instruction, EOS
/// appended, truncated before it; documents as they are) and `Reranker.tokenize` (prefix, the body
/// truncated to fit, suffix).
struct TrainingTextFormatter: @unchecked Sendable {
    private let embedder: Embedder
    private let reranker: Reranker?
    private let rows: [Int]

    /// A formatter for `model`; `maxLength` is capped at the model's context as inference caps it.
    ///
    /// - Throws: `TrainerError.unsuitableModel` when a reranker is to be trained on a model with no LM
    ///   head, or `maxLength` cannot hold a prompt.
    init(model: TrainableModel, tokenizer: Tokenizer, maxLength: Int, task: TrainingConfiguration.Task) throws {
        embedder = try Embedder(model: model.model, tokenizer: tokenizer, maxLength: maxLength)
        guard task == .reranker else {
            reranker = nil
            rows = []
            return
        }
        do {
            reranker = try Reranker(model: model.model, tokenizer: tokenizer, maxLength: maxLength)
        } catch EmbeddingError.noScoreHead {
            throw TrainerError.unsuitableModel(
                "\(model.directory.path) has no LM head (no lm_head.weight and untied embeddings): --task reranker needs one")
        }
        guard let no = tokenizer.id(forToken: "no"), let yes = tokenizer.id(forToken: "yes") else {
            throw TrainerError.unsuitableModel("the tokenizer has no \"yes\"/\"no\" tokens: a reranker cannot be trained with it")
        }
        rows = [no, yes]
    }

    /// An embedding input: a query when `instruction` is given, else a document.
    func embeddingIDs(_ text: String, instruction: String?) -> [Int] {
        embedder.tokenize([text], instruction: instruction)[0]
    }

    /// A reranker prompt (nil instruction: the official default).
    func rerankerIDs(query: String, document: String, instruction: String?) -> [Int] {
        reranker!.tokenize(query: query, document: document, instruction: instruction)
    }

    /// The LM-head rows `[no, yes]` the reranker's score reads.
    func rerankerRows() throws -> [Int] { rows }
}
