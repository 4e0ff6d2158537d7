import ArgumentParser
import Foundation
import Hub
import Qwen3Embedding
import Tokenizer

/// The `--model` help every command shows: the three ways to name a model, with `example` as the Hub id.
func modelHelp(example: String) -> ArgumentHelp {
    ArgumentHelp("A model: a Hugging Face model directory (config.json, *.safetensors, tokenizer files), a .gguf file (or a directory holding one), or a Hub id (\(example)[@revision]).")
}

/// The `--adapter` help of every command that loads a model.
let adapterHelp = ArgumentHelp(
    "A PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors), merged into the model's weights at load.",
    valueName: "dir")

/// The Hub id a command's `--model` help shows: an embedding model or a reranker, whichever it needs.
protocol ModelExample {
    /// An official model of the kind the command needs.
    static var hubID: String { get }
}

/// `embed` and `similarity` show an embedding model.
enum EmbeddingModelExample: ModelExample {
    static let hubID = "Qwen/Qwen3-Embedding-0.6B"
}

/// `rerank` shows a reranker.
enum RerankerModelExample: ModelExample {
    static let hubID = "Qwen/Qwen3-Reranker-0.6B"
}

/// Options every model command shares (`Example` picks the model its help shows).
struct ModelArguments<Example: ModelExample>: ParsableArguments {
    @Option(help: modelHelp(example: Example.hubID))
    var model: String

    @Flag(help: "Use the model even if it is not the kind this command needs (a reranker or a chat model to embed, an embedding model to rerank).")
    var allowAnyModel = false

    @Option(help: "Maximum tokens per input; longer inputs are truncated (the appended EOS is kept).")
    var maxLength: Int = 8192

    @Option(help: "Arithmetic: fp32 (exact), bf16 (fast: bf16 inputs, fp32 accumulation), or auto (bf16 where the CPU has bf16 dot products).")
    var precision: PrecisionOption = .fp32

    @Option(help: adapterHelp)
    var adapter: String?

    /// The model directory: `--model` itself when it is a local path, else the snapshot of a Hub id
    /// (`Org/Name[@revision]`) in the shared Hugging Face cache, downloaded if needed.
    func modelDirectory() async throws -> URL {
        URL(fileURLWithPath: try await resolveModel(model) { ByteProgress(label: "downloading \(model)").update($0) })
    }

    /// `--adapter` as a location.
    var adapterDirectory: URL? { adapter.map { URL(fileURLWithPath: $0) } }

    /// The `--precision` to load with (`auto` resolved for this CPU).
    var resolvedPrecision: Precision { precision.precision }

    func validate() throws {
        guard maxLength > 0 else { throw ValidationError("--max-length must be positive") }
    }

    /// Loads `--model` as an embedding model for `command`; a model of another kind is refused with a
    /// one-line error that says what it is and what to do, unless `--allow-any-model`.
    ///
    /// - Parameter verb: what `--allow-any-model` would do, for the message ("embed with it anyway").
    func loadEmbedder(for command: String, verb: String? = nil) async throws -> Embedder {
        let directory = try await modelDirectory()
        do {
            let embedder = try Embedder(modelAt: directory, maxLength: maxLength, precision: resolvedPrecision, allowAnyModel: allowAnyModel,
                                        adapter: adapterDirectory)
            try requireUsableContext(embedder, requestedMaxLength: maxLength)  // context 1: identical vectors
            return embedder
        } catch EmbeddingError.wrongModelKind(_, let found, _) {
            let alternative = found.kind == .reranker ? "use `rerank`, or " : ""
            throw CommandLineError(
                "\(model) is \(found); `\(command)` needs an embedding model (\(alternative)--allow-any-model to \(verb ?? command) with it anyway)")
        }
    }

    /// Loads `--model` as a reranker for `command`; an embedding model is refused as `loadEmbedder` does.
    func loadReranker(for command: String) async throws -> Reranker {
        let directory = try await modelDirectory()
        do {
            return try Reranker(modelAt: directory, maxLength: maxLength, precision: resolvedPrecision, allowAnyModel: allowAnyModel,
                                adapter: adapterDirectory)
        } catch EmbeddingError.wrongModelKind(_, let found, _) {
            let alternative = found.kind == .embedding ? "use `embed` or `similarity`, or " : ""
            throw CommandLineError(
                "\(model) is \(found); `\(command)` needs \(ModelKind.reranker) (\(alternative)--allow-any-model to \(command) with it anyway)")
        }
    }
}

/// The options of commands that take an embedding model.
typealias ModelOptions = ModelArguments<EmbeddingModelExample>

/// Inputs given as positional texts or as a JSON Lines file, never both.
func collectTexts(_ texts: [String], input: String?, key: String = "text") throws -> [String] {
    if let input {
        guard texts.isEmpty else { throw CommandLineError("give texts either as arguments or with --input, not both") }
        return try readJSONLines(input, keys: [key]).map { $0[0] }
    }
    guard !texts.isEmpty else { throw CommandLineError("no input: pass texts as arguments or use --input FILE") }
    return texts
}

/// Texts per embedding call from the CLI, so progress can be shown on long inputs.
let cliChunkSize = 64

struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed texts; prints {\"index\": i, \"embedding\": [...]} per text.")

    @OptionGroup var options: ModelOptions

    @Option(help: "Task instruction: formats every text as a query ('Instruct: …\\nQuery:…'). Omit for documents.")
    var instruction: String?

    @Option(help: "Matryoshka size: keep the first N dimensions (32…hidden; a model narrower than 32 has only its full size), then renormalise.")
    var dimensions: Int?

    @Flag(help: "Return the raw last-token state instead of an L2-normalised vector.")
    var noNormalize = false

    @Option(help: "JSON Lines file of {\"text\": \"…\"} objects ('-' reads stdin).")
    var input: String?

    @Argument(help: "Texts to embed.")
    var texts: [String] = []

    func run() async throws {
        let texts = try collectTexts(texts, input: input)
        let progress = Progress(label: "embedding", total: texts.count)
        progress.note("loading \(options.model)")
        let embedder = try await options.loadEmbedder(for: "embed")
        var writer = JSONLinesWriter()
        var done = 0
        for start in stride(from: 0, to: texts.count, by: cliChunkSize) {
            let chunk = Array(texts[start..<min(texts.count, start + cliChunkSize)])
            let vectors = try await embedder.embed(
                chunk, instruction: instruction, dimensions: dimensions, normalize: !noNormalize)
            for (offset, vector) in vectors.enumerated() {
                let numbers = vector.map(jsonNumber).joined(separator: ", ")
                try writer.write("{\"index\": \(start + offset), \"embedding\": [\(numbers)]}")
            }
            done += chunk.count
            progress.update(done)
        }
        try writer.flush()
    }
}

struct RerankCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerank",
        abstract: "Score documents against a query; prints {\"index\": i, \"score\": s} per document.")

    @OptionGroup var options: ModelArguments<RerankerModelExample>

    @Option(help: "Task instruction (default: the official web-search instruction).")
    var instruction: String?

    @Option(help: "The query; documents are the positional arguments.")
    var query: String?

    @Option(help: "JSON Lines file of {\"query\": \"…\", \"document\": \"…\"} objects ('-' reads stdin).")
    var input: String?

    @Argument(help: "Documents to score against --query.")
    var documents: [String] = []

    func run() async throws {
        let pairs: [(query: String, document: String)]
        switch (query, input) {
        case (let query?, nil):
            guard !documents.isEmpty else { throw CommandLineError("no documents given after --query") }
            pairs = documents.map { (query, $0) }
        case (nil, let input?):
            guard documents.isEmpty else { throw CommandLineError("give documents either as arguments or with --input, not both") }
            pairs = try readJSONLines(input, keys: ["query", "document"]).map { ($0[0], $0[1]) }
            guard !pairs.isEmpty else { throw CommandLineError("no pairs in \(input)") }
        case (.some, .some):
            throw CommandLineError("use either --query with documents or --input, not both")
        case (nil, nil):
            throw CommandLineError("no input: use --query Q DOC ... or --input FILE")
        }
        let progress = Progress(label: "reranking", total: pairs.count)
        progress.note("loading \(options.model)")
        let reranker = try await options.loadReranker(for: "rerank")
        var writer = JSONLinesWriter()
        var done = 0
        for start in stride(from: 0, to: pairs.count, by: cliChunkSize) {
            let chunk = Array(pairs[start..<min(pairs.count, start + cliChunkSize)])
            let scores = try await reranker.score(pairs: chunk, instruction: instruction)
            for (offset, score) in scores.enumerated() {
                try writer.write("{\"index\": \(start + offset), \"score\": \(jsonNumber(score))}")
            }
            done += chunk.count
            progress.update(done)
        }
        try writer.flush()
    }
}

struct TokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Token ids of texts; prints {\"index\": i, \"ids\": [...]} per text.")

    @Option(help: "A model whose tokenizer to use: a Hugging Face model directory (only the tokenizer files are read), a .gguf file (or a directory holding one), or a Hub id (Qwen/Qwen3-Embedding-0.6B[@revision]).")
    var model: String

    @Flag(help: "Do not apply the post-processor (no appended <|endoftext|>).")
    var noSpecialTokens = false

    @Option(help: "Truncate to this many tokens (appended special tokens are kept).")
    var maxLength: Int?

    @Option(help: "JSON Lines file of {\"text\": \"…\"} objects ('-' reads stdin).")
    var input: String?

    @Argument(help: "Texts to tokenize.")
    var texts: [String] = []

    func validate() throws {
        if let maxLength, maxLength <= 0 { throw ValidationError("--max-length must be positive") }
    }

    func run() async throws {
        let texts = try collectTexts(texts, input: input)
        let path = try await resolveModel(model) { ByteProgress(label: "downloading \(model)").update($0) }
        let tokenizer = try Tokenizer.load(modelAt: URL(fileURLWithPath: path))
        // With special tokens, exactly what `embed --max-length` feeds the model (same limits, same errors).
        let limit = try noSpecialTokens ? maxLength : maxLength.map {
            try embeddingLengthLimit(requested: $0, context: modelContextLength(path), tokenizer: tokenizer)
        }
        var writer = JSONLinesWriter()
        for (index, text) in texts.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: !noSpecialTokens, maxLength: limit)
            try writer.write("{\"index\": \(index), \"ids\": [\(ids.map(String.init).joined(separator: ", "))]}")
        }
        try writer.flush()
    }
}

struct SimilarityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity",
        abstract: "Rank documents by cosine similarity to a query and print a table.")

    @OptionGroup var options: ModelOptions

    // ArgumentParser prints "(default: …)" itself, with the instruction's text.
    @Option(help: "Task instruction for the query.")
    var instruction: String = Prompts.defaultInstruction

    @Option(help: "Matryoshka size for both sides (32…hidden).")
    var dimensions: Int?

    @Option(help: "The query.")
    var query: String

    @Argument(help: "Documents to rank.")
    var documents: [String] = []

    func run() async throws {
        guard !documents.isEmpty else { throw CommandLineError("no documents given after --query") }
        let embedder = try await options.loadEmbedder(for: "similarity", verb: "compare texts")
        let queryVector = try await embedder.embed([query], instruction: instruction, dimensions: dimensions)[0]
        let documentVectors = try await embedder.embed(documents, dimensions: dimensions)
        let scored = documentVectors.enumerated().map { index, vector in
            (index: index, score: zip(queryVector, vector).reduce(Float(0)) { $0 + $1.0 * $1.1 })
        }.sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        try printOutput("query: \(query)")
        try printOutput("rank  score    doc  text")
        for (rank, entry) in scored.enumerated() {
            var text = documents[entry.index].replacingOccurrences(of: "\n", with: " ")
            if text.count > 70 { text = String(text.prefix(67)) + "..." }
            let score = String(format: "%.4f", entry.score)
            let padding = String(repeating: " ", count: max(1, 9 - score.count))
            try printOutput("\(String(rank + 1).padding(toLength: 6, withPad: " ", startingAt: 0))\(score)\(padding)"
                  + "\(String(entry.index).padding(toLength: 5, withPad: " ", startingAt: 0))\(text)")
        }
    }
}
