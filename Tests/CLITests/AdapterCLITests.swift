import Foundation
import Testing
import TestSupport

/// `--adapter DIR` and `merge-adapter` through the built binary: a peft-made adapter gives transformers +
/// peft's numbers, the merged model gives what `--adapter` gives, and a bad adapter is a one-line error.
extension CLITests {
    static let adapterFixtures = fixtures.appendingPathComponent("training/peft-adapter")
    static let embeddingAdapter = adapterFixtures.appendingPathComponent("embedding").path
    static let rerankerAdapter = adapterFixtures.appendingPathComponent("reranker").path

    struct AdapterGolden: Decodable {
        struct Embedding: Decodable { let texts: [String]; let embeddings: [[Float]]; let without_adapter: [[Float]] }
        struct Reranking: Decodable { let scores: [[Float]] }
        let queries: [String]
        let documents: [String]
        let embedding: Embedding
        let reranker: Reranking
    }

    func adapterGolden() throws -> AdapterGolden {
        try GoldenFile.decode(AdapterGolden.self, at: "training/peft-adapter/golden.json")
    }

    /// `embed` output as vectors in input order.
    func embeddings(_ output: Output) -> [[Float]] {
        output.lines.compactMap { ($0["embedding"] as? [NSNumber])?.map(\.floatValue) }
    }

    func largestDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
        guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return .infinity }
        return zip(a, b).flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? .infinity
    }

    @Test func embedWithPeftAdapterGivesTransformersEmbeddings() throws {
        let golden = try adapterGolden()
        let input = golden.embedding.texts.map { text in
            String(decoding: try! JSONSerialization.data(withJSONObject: ["text": text]), as: UTF8.self)
        }.joined(separator: "\n")
        let result = try run(["embed", "--model", Self.embeddingModel, "--adapter", Self.embeddingAdapter, "--input", "-"], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        let difference = largestDifference(embeddings(result), golden.embedding.embeddings)
        #expect(difference <= 1e-4, "max |Δ| \(difference)")
    }

    @Test func rerankWithPeftAdapterGivesTransformersScores() throws {
        let golden = try adapterGolden()
        var scores: [[Float]] = []
        for query in golden.queries {
            let result = try run(["rerank", "--model", Self.rerankerModel, "--adapter", Self.rerankerAdapter, "--query", query] + golden.documents)
            #expect(result.status == 0, "\(result.stderr)")
            scores.append(result.lines.compactMap { ($0["score"] as? NSNumber)?.floatValue })
        }
        let difference = largestDifference(scores, golden.reranker.scores)
        #expect(difference <= 1e-4, "max |Δ| \(difference)")
    }

    /// `merge-adapter` writes a model that scores exactly as the base with `--adapter` (fp32 base: the same
    /// fp32 merge, kept exactly), and prints its summary.
    @Test func mergeAdapterOutputScoresAsTheAdapterDoes() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("merged").path
        let merged = try run(["merge-adapter", "--model", Self.rerankerModel, "--adapter", Self.rerankerAdapter, "--output", output])
        #expect(merged.status == 0, "\(merged.stderr)")
        let summary = try #require(merged.lines.first)
        #expect(summary["merged_tensors"] as? Int == 3 && summary["output"] as? String == output)

        let documents = ["The capital of China is Beijing.", "Gravity is a force."]
        let adapted = try run(["rerank", "--model", Self.rerankerModel, "--adapter", Self.rerankerAdapter, "--query", "capital?"] + documents)
        let fromMerged = try run(["rerank", "--model", output, "--query", "capital?"] + documents)
        #expect(adapted.status == 0 && fromMerged.status == 0, "\(adapted.stderr) \(fromMerged.stderr)")
        #expect(adapted.stdout == fromMerged.stdout && !adapted.stdout.isEmpty)

        // A second merge into the same (now full) directory is refused, naming it.
        let again = try run(["merge-adapter", "--model", Self.rerankerModel, "--adapter", Self.rerankerAdapter, "--output", output])
        #expect(again.status != 0 && again.stderr.contains("is not empty"), "\(again.stderr)")
    }

    /// `similarity`, `bench` and `eval` take `--adapter` too, and it changes what they compute.
    @Test func otherCommandsTakeTheAdapter() throws {
        let texts = ["--query", "What is the capital of China?", "The capital of China is Beijing.", "Gravity is a force."]
        let plain = try run(["similarity", "--model", Self.embeddingModel] + texts)
        let adapted = try run(["similarity", "--model", Self.embeddingModel, "--adapter", Self.embeddingAdapter] + texts)
        #expect(plain.status == 0 && adapted.status == 0, "\(plain.stderr) \(adapted.stderr)")
        #expect(!adapted.stdout.isEmpty && plain.stdout != adapted.stdout)

        let bench = try run(["bench", "--model", Self.embeddingModel, "--adapter", Self.embeddingAdapter, "--batch", "1", "--seq-len", "4",
                             "--iterations", "1", "--precision", "fp32", "--json"])
        #expect(bench.status == 0 && bench.lines.first?["tokens_per_second"] != nil, "\(bench.stderr)")

        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let task = Self.tasks.appendingPathComponent("jsts.json").path
        func evaluate(_ name: String, adapter: [String]) throws -> Output {
            try run(["eval", "--model", Self.embeddingModel, "--tasks", task, "--limit", "3", "--max-length", "64",
                     "--cache", directory.appendingPathComponent("cache").path, "--output", directory.appendingPathComponent(name).path] + adapter)
        }
        let evalPlain = try evaluate("plain", adapter: [])
        let evalAdapted = try evaluate("adapted", adapter: ["--adapter", Self.embeddingAdapter])
        #expect(evalPlain.status == 0 && evalAdapted.status == 0, "\(evalPlain.stderr) \(evalAdapted.stderr)")
        // One shared cache: the adapted run must not reuse the plain run's vectors (different scores), and
        // each model has its own cache file.
        #expect(!evalAdapted.stdout.isEmpty && evalPlain.stdout != evalAdapted.stdout, "\(evalPlain.stdout) | \(evalAdapted.stdout)")
        let cacheFiles = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("cache").path)
        #expect(cacheFiles.count == 2, "\(cacheFiles)")
        // run.json says which adapter produced the scores (and nothing when there was none).
        func runRecord(_ name: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(name).appendingPathComponent("run.json"))) as? [String: Any] ?? [:]
        }
        #expect(try runRecord("adapted")["adapter"] as? String == Self.embeddingAdapter)
        #expect(try runRecord("plain")["adapter"] == nil)
    }

    @Test func badAdapterIsAOneLineError() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [([String], String)] = [
            (["embed", "--model", Self.embeddingModel, "--adapter", directory.appendingPathComponent("absent").path, "hi"], "no such directory"),
            (["embed", "--model", Self.embeddingModel, "--adapter", Self.rerankerAdapter, "hi"], "(an adapter for another model?)"),
            (["embed", "--model", Self.fixtures.appendingPathComponent("gguf-llama/embedding-F16.gguf").path, "--adapter", Self.embeddingAdapter, "hi"],
             "cannot be applied to the GGUF model"),
            (["merge-adapter", "--model", Self.embeddingModel, "--adapter", Self.rerankerAdapter, "--output", directory.appendingPathComponent("out").path],
             "(an adapter for another model?)"),
            (["serve", "--reranker", Self.rerankerModel, "--adapter", Self.embeddingAdapter], "--adapter applies to --model"),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments)
            let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("qwen3-embed: loading") }
            #expect(result.status != 0 && result.stdout.isEmpty, "\(arguments)")
            #expect(lines.count >= 1 && lines.contains { $0.contains(expected) }, "\(arguments): \(result.stderr)")
        }
        let binOnly = directory.appendingPathComponent("bin-only").path
        try FileManager.default.copyItem(atPath: Self.embeddingAdapter, toPath: binOnly)
        try FileManager.default.moveItem(atPath: binOnly + "/adapter_model.safetensors", toPath: binOnly + "/adapter_model.bin")
        let result = try run(["embed", "--model", Self.embeddingModel, "--adapter", binOnly, "hi"])
        #expect(result.status != 0 && result.stderr.contains("only adapter_model.safetensors can be read"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out").path))
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension CLITests {
    /// POSTs `body` as JSON to the local server and returns the decoded JSON answer.
    func postJSON(port: Int, path: String, body: [String: Any]) async throws -> Any {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")
        return try JSONSerialization.jsonObject(with: data)
    }

    /// `serve --adapter --reranker-adapter`: both models are served with their adapters merged.
    @Test func serveAppliesBothAdapters() async throws {
        let golden = try adapterGolden()
        let server = try await ServeProcess(binary: Self.binary, arguments: [
            "serve", "--model", Self.embeddingModel, "--adapter", Self.embeddingAdapter,
            "--reranker", Self.rerankerModel, "--reranker-adapter", Self.rerankerAdapter, "--port", "0",
        ])
        defer { server.stop() }
        let embedded = try await postJSON(port: server.port, path: "/v1/embeddings", body: ["input": golden.embedding.texts])
        let vectors = ((embedded as? [String: Any])?["data"] as? [[String: Any]] ?? [])
            .compactMap { ($0["embedding"] as? [NSNumber])?.map(\.floatValue) }
        let difference = largestDifference(vectors, golden.embedding.embeddings)
        #expect(difference <= 1e-4, "max |Δ| \(difference)")

        let reranked = try await postJSON(port: server.port, path: "/rerank", body: ["query": golden.queries[1], "texts": golden.documents])
        var scores = [Float](repeating: .nan, count: golden.documents.count)
        for entry in reranked as? [[String: Any]] ?? [] {
            if let index = entry["index"] as? Int, let score = entry["score"] as? NSNumber, scores.indices.contains(index) {
                scores[index] = score.floatValue
            }
        }
        let scoreDifference = largestDifference([scores], [golden.reranker.scores[1]])
        #expect(scoreDifference <= 1e-4, "max |Δ| \(scoreDifference): \(scores)")
    }
}
