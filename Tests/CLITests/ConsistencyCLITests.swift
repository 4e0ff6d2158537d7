import Foundation
import Testing
import TestSupport
import Qwen3Embedding

/// The built `qwen3-embed` binary prints, for every model fixture, exactly the library's numbers (its
/// floats are shortest round-trip text, parsed back here as `Float`: bit for bit), and refuses a model
/// of the wrong kind with one line that says what the model is, unless `--allow-any-model`.
@Suite struct ConsistencyCLITests {
    static let llama = CLITests.fixtures.appendingPathComponent("gguf-llama")
    static let quant = CLITests.fixtures.appendingPathComponent("tiny-qwen3-quant").path
    static let rerankerGGUF = llama.appendingPathComponent("reranker-F16.gguf").path
    static let embeddingGGUF = llama.appendingPathComponent("embedding-Q8_0.gguf").path

    /// Every model fixture used for embedding; the quant fixture is a plain causal LM (embedded with
    /// `--allow-any-model`; the GGUF embedding files were made from it).
    static let embeddingModels: [(path: String, allowAnyModel: Bool)] = [
        (CLITests.embeddingModel, false), (quant, true),
    ] + ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K_M", "Q4_1", "IQ4_NL", "IQ4_XS", "Q4_0", "Q3_K_M", "Q2_K"]
        .map { (llama.appendingPathComponent("embedding-\($0).gguf").path, false) }

    /// Every model fixture used for reranking.
    static let rerankerModels = [CLITests.rerankerModel, quant, rerankerGGUF, llama.appendingPathComponent("reranker-Q8_0.gguf").path]

    // Few and short: a debug build on a CPU without AVX-512 runs the portable kernels unoptimised.
    static let texts = ["The capital of China is Beijing.", "東京は日本の首都です。", "a"]
    static let query = "What is the capital of China?"

    /// The number arrays of `embed`'s JSON lines, each number parsed from its text as a `Float`.
    static func embeddings(_ stdout: String) -> [[Float]] {
        stdout.split(separator: "\n").map { line in
            guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return [] }
            return line[line.index(after: open)..<close].split(separator: ",").map {
                Float($0.trimmingCharacters(in: .whitespaces)) ?? .nan
            }
        }
    }

    /// The scores of `rerank`'s JSON lines, parsed from their text as `Float`.
    static func scores(_ stdout: String) -> [Float] {
        stdout.split(separator: "\n").map { line in
            let value = line.split(separator: "\"score\": ").last.map { $0.dropLast() } ?? ""
            return Float(value.trimmingCharacters(in: .whitespaces)) ?? .nan
        }
    }

    @Test(arguments: embeddingModels.indices)
    func embedPrintsTheLibrarysVectors(index: Int) async throws {
        let (path, allowAnyModel) = Self.embeddingModels[index]
        let flag = allowAnyModel ? ["--allow-any-model"] : []
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: path), allowAnyModel: allowAnyModel)

        let output = try CLITests().run(["embed", "--model", path] + flag + Self.texts)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(Self.embeddings(output.stdout) == (try await embedder.embed(Self.texts)), "\(path)")

        // Truncation, raw vectors and instructions are the same code for every file: checked on the
        // two directories and one GGUF.
        guard index < 3 else { return }
        let dimensions = embedder.dimensionRange.lowerBound
        let truncated = try CLITests().run(
            ["embed", "--model", path, "--dimensions", "\(dimensions)", "--no-normalize", "--instruction", "Find it"] + flag + Self.texts)
        #expect(truncated.status == 0, "\(truncated.stderr)")
        let expected = try await embedder.embed(Self.texts, instruction: "Find it", dimensions: dimensions, normalize: false)
        #expect(Self.embeddings(truncated.stdout) == expected, "\(path): truncated, raw, instructed")
    }

    @Test(arguments: rerankerModels.indices)
    func rerankPrintsTheLibrarysScores(index: Int) async throws {
        let path = Self.rerankerModels[index]
        let reranker = try Reranker(modelAt: URL(fileURLWithPath: path))
        let output = try CLITests().run(["rerank", "--model", path, "--query", Self.query] + Self.texts)
        #expect(output.status == 0, "\(output.stderr)")
        let expected = try await reranker.score(query: Self.query, documents: Self.texts)
        #expect(Self.scores(output.stdout) == expected, "\(path)")
    }

    /// The regression of issue 12 from the CLI's side: llama.cpp's reranker-F16 file (cls.output, no
    /// output.weight) scores as llama.cpp itself does.
    @Test func rerankerGGUFScoresAsLlamaCppDoes() throws {
        struct Golden: Decodable {
            struct Pair: Decodable { let query: String; let document: String }
            let rerank_pairs: [Pair]
        }
        struct LlamaOutputs: Decodable {
            struct File: Decodable { let rank_outputs: [[Float]]? }
            let files: [String: File]
        }
        let pairs = try CLITests().golden("quant.json", Golden.self).rerank_pairs
        let llama = try GoldenFile.decode(LlamaOutputs.self, at: "gguf-llama/llama-outputs.json")
        let llamaScores = try #require(llama.files["reranker-F16.gguf"]?.rank_outputs).map { $0[0] }
        let lines = try pairs.map { pair -> String in
            let object: [String: String] = ["query": pair.query, "document": pair.document]
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let output = try CLITests().run(["rerank", "--model", Self.rerankerGGUF, "--input", "-"], stdin: lines.joined(separator: "\n"))
        #expect(output.status == 0, "\(output.stderr)")
        let scores = Self.scores(output.stdout)
        #expect(scores.count == llamaScores.count)
        for (ours, theirs) in zip(scores, llamaScores) {
            #expect(abs(ours - theirs) <= 1e-4, "CLI \(ours) vs llama.cpp \(theirs)")
        }
    }

    /// Each command with a model of the wrong kind: the arguments, the kind and evidence the one-line
    /// error must name, and the advice it must give.
    static let refusals: [(arguments: [String], message: String)] = [
        (["embed", "--model", CLITests.rerankerModel, "x"],
         "qwen3-embed: error: \(CLITests.rerankerModel) is a reranker model (directory name \"tiny-qwen3-reranker\"); `embed` needs an embedding model (use `rerank`, or --allow-any-model to embed with it anyway)"),
        (["embed", "--model", rerankerGGUF, "x"],
         "qwen3-embed: error: \(rerankerGGUF) is a reranker model (GGUF pooling_type rank); `embed` needs an embedding model (use `rerank`, or --allow-any-model to embed with it anyway)"),
        (["embed", "--model", quant, "x"],
         "qwen3-embed: error: \(quant) is a causal language model (Qwen3ForCausalLM with lm_head.weight; no sentence-transformers files, no official Qwen3-Embedding/Qwen3-Reranker name); `embed` needs an embedding model (--allow-any-model to embed with it anyway)"),
        (["similarity", "--model", rerankerGGUF, "--query", "q", "d"],
         "qwen3-embed: error: \(rerankerGGUF) is a reranker model (GGUF pooling_type rank); `similarity` needs an embedding model (use `rerank`, or --allow-any-model to compare texts with it anyway)"),
        (["rerank", "--model", CLITests.embeddingModel, "--query", "q", "d"],
         "qwen3-embed: error: \(CLITests.embeddingModel) is an embedding model (sentence-transformers files: modules.json, config_sentence_transformers.json, 1_Pooling/config.json (last-token pooling)); `rerank` needs a reranker model (use `embed` or `similarity`, or --allow-any-model to rerank with it anyway)"),
        (["rerank", "--model", embeddingGGUF, "--query", "q", "d"],
         "qwen3-embed: error: \(embeddingGGUF) is an embedding model (GGUF pooling_type last); `rerank` needs a reranker model (use `embed` or `similarity`, or --allow-any-model to rerank with it anyway)"),
    ]

    @Test(arguments: refusals.indices)
    func theWrongKindIsRefusedUnlessAllowed(index: Int) throws {
        let (arguments, message) = Self.refusals[index]
        let refused = try CLITests().run(arguments)
        #expect(refused.status != 0)
        #expect(refused.stdout.isEmpty)
        // stderr may also carry progress notes ("loading …"); the error is one line, and the last.
        let errors = refused.stderr.split(separator: "\n").filter { $0.hasPrefix("qwen3-embed: error:") }
        #expect(errors == [Substring(message)], "\(refused.stderr)")
        #expect(refused.stderr.hasSuffix(message + "\n"), "\(refused.stderr)")

        let allowed = try CLITests().run(Array(arguments.prefix(3)) + ["--allow-any-model"] + arguments.dropFirst(3))
        #expect(allowed.status == 0, "\(allowed.stderr)")
        if arguments[0] == "similarity" {
            #expect(allowed.stdout.contains("rank  score"))
        } else {
            let lines = allowed.lines
            #expect(lines.count == 1)
            let number = arguments[0] == "embed" ? (lines.first?["embedding"] as? [Any])?.count : (lines.first?["score"] as? Double).map { _ in 1 }
            #expect((number ?? 0) > 0, "\(allowed.stdout)")
        }
    }

    /// `--model` help names every way to give a model, with an example of the kind the command needs;
    /// `similarity --help` states its instruction default once (ArgumentParser prints it).
    @Test(arguments: [("embed", "Qwen/Qwen3-Embedding-0.6B"), ("similarity", "Qwen/Qwen3-Embedding-0.6B"),
                      ("rerank", "Qwen/Qwen3-Reranker-0.6B"), ("tokenize", "Qwen/Qwen3-Embedding-0.6B")])
    func modelHelpNamesDirectoriesGGUFAndHubIDs(command: String, example: String) throws {
        let help = try CLITests().run([command, "--help"])
        #expect(help.status == 0)
        // ArgumentParser wraps help text: compare with the line breaks and indentation folded.
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("Hugging Face model directory"), "\(help.stdout)")
        #expect(text.contains(".gguf file"), "\(help.stdout)")
        #expect(text.contains("Hub id (\(example)[@revision])"), "\(help.stdout)")
        if command == "rerank" { #expect(!text.contains("Qwen3-Embedding")) }
        if command != "tokenize" { #expect(text.contains("--allow-any-model")) }
        if command == "similarity" {
            #expect(text.components(separatedBy: "(default: the official").count == 1, "\(help.stdout)")
            #expect(text.components(separatedBy: "(default: Given a web search query").count == 2, "\(help.stdout)")
        }
    }
}
