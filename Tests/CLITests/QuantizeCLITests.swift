import Foundation
import Testing

/// `qwen3-embed quantize` end to end through the built binary.
@Suite struct QuantizeCLITests {
    static let quantModel = CLITests.fixtures.appendingPathComponent("tiny-qwen3-quant").path

    func scratchDirectory() throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("quantize-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(arguments: [("q4_k_m", "embedding"), ("Q8_0", "auto"), ("bf16", "reranker")])
    func writesAGGUFFileAndASummary(type: String, kind: String) throws {
        let work = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let output = "\(work)/model.gguf"
        let result = try CLITests().run(["quantize", "--model", Self.quantModel, "--type", type, "--kind", kind, "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(result.lines.first)
        #expect(result.lines.count == 1)
        #expect(summary["output"] as? String == output)
        #expect(summary["type"] as? String == type.lowercased())
        #expect(summary["kind"] as? String == (kind == "auto" ? "embedding" : kind))
        #expect(summary["tensors"] as? Int == 25)
        #expect((summary["fallbacks"] as? [String])?.isEmpty == true)
        let types = try #require(summary["tensor_types"] as? [String: Int])
        switch type.lowercased() {
        case "q4_k_m": #expect(types == ["Q4_K": 13, "Q6_K": 3, "F32": 9])
        case "q8_0": #expect(types == ["Q8_0": 16, "F32": 9])
        default: #expect(types == ["BF16": 16, "F32": 9])
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(summary["bytes"] as? Int == data.count)
        #expect(Array(data.prefix(8)) == Array("GGUF".utf8) + [3, 0, 0, 0])
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
        #expect(!result.stderr.contains("error"))
    }

    @Test(arguments: [
        ["--model", "/nonexistent/model", "--type", "q8_0"],
        ["--model", "MODEL", "--type", "q3_k"],
        ["--model", "MODEL", "--type", "q8_0", "--kind", "classifier"],
        ["--model", "MODEL", "--type", "q8_0", "--output", "/nonexistent-directory/model.gguf"],
        ["--model", "MODEL", "--type", "q8_0", "--output", "WORK"],
        ["--model", "WORK", "--type", "q8_0"],
        ["--type", "q8_0"],
    ])
    func errorsAreOneLineOnStderr(arguments: [String]) throws {
        let work = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        var resolved = arguments.map { $0 == "MODEL" ? Self.quantModel : $0 == "WORK" ? work : $0 }
        if !resolved.contains("--output") { resolved += ["--output", "\(work)/out.gguf"] }
        let result = try CLITests().run(["quantize"] + resolved)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("error"))
        #expect(!FileManager.default.fileExists(atPath: "\(work)/out.gguf"))
    }

    /// What `quantize` writes, the other commands run: Q8_0 embeddings near the transformers reference,
    /// the tokenizer from the file with the reference ids, and a reranker file scoring like the reference.
    @Test func quantizedFilesRunInTheOtherCommands() throws {
        struct Golden: Decodable {
            struct Pair: Decodable { let query: String; let document: String }
            let texts: [String]; let ids: [[Int]]; let embeddings: [[Float]]
            let rerank_pairs: [Pair]; let scores: [Float]
        }
        let golden = try CLITests().golden("quant.json", Golden.self)
        let work = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let embedding = "\(work)/embedding.gguf", reranker = "\(work)/reranker.gguf"
        for (output, kind) in [(embedding, "embedding"), (reranker, "reranker")] {
            let result = try CLITests().run(["quantize", "--model", Self.quantModel, "--type", "q8_0", "--kind", kind, "--output", output])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let input = golden.texts.map { text in
            String(decoding: try! JSONSerialization.data(withJSONObject: ["text": text]), as: UTF8.self)
        }.joined(separator: "\n")
        let tokenized = try CLITests().run(["tokenize", "--model", embedding, "--input", "-"], stdin: input)
        #expect(tokenized.status == 0, "\(tokenized.stderr)")
        #expect(tokenized.lines.map { $0["ids"] as? [Int] ?? [] } == golden.ids)

        let embedded = try CLITests().run(["embed", "--model", embedding, "--input", "-"], stdin: input)
        #expect(embedded.status == 0, "\(embedded.stderr)")
        let vectors = embedded.lines.map { ($0["embedding"] as? [Double] ?? []).map(Float.init) }
        #expect(vectors.count == golden.embeddings.count)
        for (vector, reference) in zip(vectors, golden.embeddings) {
            let dot = zip(vector, reference).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(dot >= 0.999, "cosine \(dot)")  // both unit vectors
        }

        let query = golden.rerank_pairs[0].query
        let documents = golden.rerank_pairs.filter { $0.query == query }.map(\.document)
        let reranked = try CLITests().run(["rerank", "--model", reranker, "--query", query] + documents)
        #expect(reranked.status == 0, "\(reranked.stderr)")
        let scores = reranked.lines.map { Float($0["score"] as? Double ?? -1) }
        #expect(scores.count == documents.count)
        for (score, reference) in zip(scores, golden.scores) { #expect(abs(score - reference) <= 0.02) }
    }

    @Test func hasHelp() throws {
        let result = try CLITests().run(["quantize", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("q4_k_m"))
    }
}
