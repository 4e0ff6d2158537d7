import Foundation
import Testing
import Kernels
import TestSupport

/// The `qwen3-embed` binary end to end: its stdout/stderr contract and exit codes.
@Suite struct CLITests {
    static let packageRoot = TestPaths.repositoryRoot
    static let fixtures = TestPaths.fixtures
    static let embeddingModel = TestPaths.tinyEmbeddingModel.path
    static let rerankerModel = TestPaths.tinyRerankerModel.path

    /// The binary built next to the test bundle.
    static let binary: URL = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            var url = directory
            // Inside an .xctest bundle directory on some platforms: walk up to the build folder.
            for _ in 0..<4 {
                let candidate = url.appendingPathComponent("qwen3-embed")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                url.deleteLastPathComponent()
            }
        }
        return packageRoot.appendingPathComponent(".build/debug/qwen3-embed")
    }()

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
    }

    func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> Output {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: stdoutData, as: UTF8.self),
                      stderr: String(decoding: stderrData, as: UTF8.self))
    }

    struct Golden: Decodable {
        struct Case: Decodable { let name: String; let texts: [String]; let ids: [[Int]]; let embeddings: [[Float]] }
        let cases: [Case]
    }

    struct RerankerGolden: Decodable {
        struct Case: Decodable { let name: String; let query: String; let documents: [String]; let scores: [Float] }
        let cases: [Case]
    }

    func golden<T: Decodable>(_ name: String, _ type: T.Type) throws -> T {
        try GoldenFile.decode(T.self, at: "golden/\(name)")
    }

    /// `bench --json` keeps its key contract, and `QWEN3_KERNEL=portable` forces the plain-Swift kernels.
    @Test(arguments: [("fp32", false), ("bf16", false), ("fp32", true)])
    func benchPrintsItsJSONContract(precision: String, portable: Bool) throws {
        let result = try run(
            ["bench", "--model", Self.embeddingModel, "--batch", "2", "--seq-len", "8", "--iterations", "2",
             "--precision", precision, "--threads", "1", "--json"],
            environment: portable ? ["QWEN3_KERNEL": "portable"] : [:])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(result.lines.first)
        for key in ["tokens_per_second", "latency_ms_p50", "latency_ms_p99", "peak_rss_bytes", "kernel", "precision", "threads"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect((object["tokens_per_second"] as? Double ?? 0) > 0)
        #expect(object["precision"] as? String == precision)
        #expect(object["threads"] as? Int == 1)
        let kernel = try #require(object["kernel"] as? String)
        if portable {
            #expect(kernel == "portable")
        } else if CPUFeatures.detected.hasAVX512 && (precision == "fp32" || CPUFeatures.detected.contains(.avx512bf16)) {
            #expect(kernel.hasPrefix("avx512") || kernel.hasPrefix("amx"), "\(kernel)")
        }
    }

    @Test func embedPrintsGoldenVectorsInOrder() throws {
        let documents = try golden("embedding.json", Golden.self).cases.first { $0.name == "documents" }!
        let texts = Array(documents.texts.prefix(4))
        let output = try run(["embed", "--model", Self.embeddingModel] + texts)
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.lines
        #expect(lines.count == texts.count)
        for (index, line) in lines.enumerated() {
            #expect(line["index"] as? Int == index)
            let vector = (line["embedding"] as? [Double] ?? []).map(Float.init)
            #expect(vector.count == 40)
            let difference = zip(vector, documents.embeddings[index]).map { abs($0 - $1) }.max() ?? 1
            #expect(difference <= 1e-4)
        }
    }

    @Test func embedReadsJSONLinesFromStdinWithOptions() throws {
        let input = "{\"text\": \"first\"}\n\n{\"text\": \"second\"}\n"
        let output = try run(["embed", "--model", Self.embeddingModel, "--dimensions", "32",
                              "--instruction", "Retrieve semantically similar text", "--input", "-"], stdin: input)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.lines.map { ($0["embedding"] as? [Double])?.count } == [32, 32])
        let raw = try run(["embed", "--model", Self.embeddingModel, "--no-normalize", "x"])
        let vector = raw.lines.first?["embedding"] as? [Double] ?? []
        #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) > 1e-3, "unnormalised output should not be unit length")
    }

    @Test func embedFromFileAndMaxLength() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).jsonl")
        try Data("{\"text\": \"hello world\"}\n{\"text\": \"caf\\u00e9\"}\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try run(["embed", "--model", Self.embeddingModel, "--max-length", "2", "--input", file.path])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.lines.count == 2)
    }

    @Test func rerankPrintsGoldenScores() throws {
        let testCase = try golden("reranker.json", RerankerGolden.self).cases.first { $0.name == "default-instruction" }!
        let output = try run(["rerank", "--model", Self.rerankerModel, "--query", testCase.query] + testCase.documents)
        #expect(output.status == 0, "\(output.stderr)")
        let scores = output.lines.map { Float($0["score"] as? Double ?? -1) }
        #expect(scores.count == testCase.documents.count)
        #expect((zip(scores, testCase.scores).map { abs($0 - $1) }.max() ?? 1) <= 1e-4)
        #expect(output.lines.map { $0["index"] as? Int } == Array(0..<testCase.documents.count))
    }

    @Test func rerankReadsPairs() throws {
        let input = "{\"query\": \"q1\", \"document\": \"d1\"}\n{\"query\": \"q2\", \"document\": \"d2\"}\n"
        let output = try run(["rerank", "--model", Self.rerankerModel, "--instruction", "Find it", "--input", "-"], stdin: input)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.lines.count == 2)
        #expect(output.lines.allSatisfy { ($0["score"] as? Double).map { $0 > 0 && $0 < 1 } ?? false })
    }

    @Test func tokenizeMatchesTheReference() throws {
        let documents = try golden("embedding.json", Golden.self).cases.first { $0.name == "documents" }!
        let output = try run(["tokenize", "--model", Self.embeddingModel] + documents.texts)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.lines.map { $0["ids"] as? [Int] ?? [] } == documents.ids)
        let plain = try run(["tokenize", "--model", Self.embeddingModel, "--no-special-tokens", "Hello world"])
        #expect(plain.lines.first?["ids"] as? [Int] == [9707, 1879])
    }

    @Test func similarityPrintsARankedTable() throws {
        let output = try run(["similarity", "--model", Self.embeddingModel, "--query", "capital of China",
                              "The capital of China is Beijing.", "Gravity is a force."])
        #expect(output.status == 0, "\(output.stderr)")
        let rows = output.stdout.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(rows.count == 2)
        #expect(rows.first?.hasPrefix("1") == true)
    }

    @Test(arguments: [
        ["embed", "--model", "/nonexistent", "x"],
        ["embed", "x"],
        ["embed", "--model", "MODEL"],
        ["embed", "--model", "MODEL", "--dimensions", "8", "x"],
        ["embed", "--model", "MODEL", "--max-length", "0", "x"],
        ["embed", "--model", "MODEL", "--input", "/nonexistent.jsonl"],
        ["embed", "--model", "MODEL", "--input", "-"],
        ["rerank", "--model", "RERANKER", "doc"],
        ["rerank", "--model", "MODEL", "--query", "q"],
        ["tokenize", "--model", "/nonexistent", "x"],
        ["no-such-command"],
    ])
    func errorsAreOneLineOnStderr(arguments: [String]) throws {
        let resolved = arguments.map { $0 == "MODEL" ? Self.embeddingModel : $0 == "RERANKER" ? Self.rerankerModel : $0 }
        let stdin = resolved.contains("-") ? "not json\n" : nil
        let output = try run(resolved, stdin: stdin)
        #expect(output.status != 0)
        #expect(output.stdout.isEmpty)
        // One error line, last; any line before it is a progress milestone ("qwen3-embed: loading …"),
        // which a stderr that is not a terminal gets instead of a redrawn bar.
        let lines = output.stderr.split(separator: "\n")
        #expect(lines.filter { $0.contains("error") }.count == 1, "\(output.stderr)")
        #expect(lines.last?.hasPrefix("qwen3-embed: error: ") == true, "\(output.stderr)")
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("qwen3-embed: ") }, "\(output.stderr)")
    }

    @Test(arguments: [[], ["embed"], ["rerank"], ["tokenize"], ["similarity"]])
    func everyCommandHasHelp(command: [String]) throws {
        let output = try run(command + ["--help"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("USAGE") || output.stdout.contains("Usage"))
    }
}
