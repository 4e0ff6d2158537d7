import Foundation
import Testing

/// `qwen3-embed mine` and `filter` through the built binary: outputs equal the numpy reference, and bad
/// inputs are one-line errors with a non-zero exit.
@Suite struct MiningCLITests {
    static let packageRoot = MiningSupport.tests.deletingLastPathComponent()

    /// The binary built next to the test bundle (as CLITests finds it).
    static let binary: URL = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            var url = directory
            for _ in 0..<4 {
                let candidate = url.appendingPathComponent("qwen3-embed")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                url.deleteLastPathComponent()
            }
        }
        return packageRoot.appendingPathComponent(".build/debug/qwen3-embed")
    }()

    struct Output { let status: Int32; let stdout: String; let stderr: String }

    func run(_ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    let pairs = MiningSupport.fixtures.appendingPathComponent("pairs.jsonl").path
    let corpus = MiningSupport.fixtures.appendingPathComponent("corpus.jsonl").path

    @Test func mineWritesTheReferenceNegativesAndResumesFromItsCache() throws {
        let reference = try MiningReference.load()
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("mined.jsonl")
        let arguments = ["mine", "--model", MiningSupport.embeddingModel, "--data", pairs, "--corpus", corpus, "--output", output.path,
                         "--negatives", "\(reference.mine.negatives)", "--range", "\(reference.mine.range[0])-\(reference.mine.range[1])",
                         "--margin", "\(reference.mine.margin)", "--batch-size", "7"]
        let first = try run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let short = reference.mine.examples.filter { $0.negatives.count < reference.mine.negatives }.count
        let total = reference.mine.examples.map(\.negatives.count).reduce(0, +)
        #expect(first.stdout == "mined \(total) negatives for \(reference.mine.examples.count) examples (\(short) with fewer than \(reference.mine.negatives)); wrote \(output.path)\n")
        #expect(first.stderr.contains("qwen3-embed: warning: \(short) of \(reference.mine.examples.count) examples got fewer than"))
        #expect(first.stderr.contains("qwen3-embed: embedding corpus done 30/30"))
        let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        #expect(lines.map { $0["negatives"] as! [String] } == reference.mine.examples.map(\.negatives))
        #expect(lines.map { $0["query"] as! String } == reference.mine.examples.map(\.query))
        #expect(lines[3]["instruction"] as? String == "Given a keyword, retrieve a passage about it")
        #expect(lines[0]["instruction"] == nil)  // none given: training applies the same default

        // A rerun finds every corpus vector in <output>.cache and gives the same file.
        let before = try Data(contentsOf: output)
        let second = try run(arguments)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("corpus vectors: 30 of 30 cached"))
        #expect(try Data(contentsOf: output) == before)
    }

    @Test func filterKeepsTheReferencePairsAndWritesTheHistogram() throws {
        let reference = try MiningReference.load()
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("kept.jsonl"), report = directory.appendingPathComponent("report.json")
        let result = try run(["filter", "--model", MiningSupport.embeddingModel, "--data", pairs, "--min-similarity", "\(reference.filter.threshold)",
                              "--output", output.path, "--report", report.path])
        #expect(result.status == 0, "\(result.stderr)")
        let kept = reference.filter.kept.filter { $0 }.count
        #expect(result.stdout == "kept \(kept) of \(reference.filter.kept.count) pairs (similarity > \(reference.filter.threshold)); wrote \(output.path)\n")
        let inputLines = try String(contentsOfFile: pairs, encoding: .utf8).split(separator: "\n")
        let expected = zip(inputLines, reference.filter.kept).filter { $0.1 }.map { $0.0 + "\n" }.joined()
        #expect(try String(contentsOf: output, encoding: .utf8) == expected)
        let histogram = try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as! [String: Any]
        #expect(histogram["kept"] as? Int == kept && histogram["total"] as? Int == reference.filter.kept.count)
        #expect((histogram["bins"] as! [[String: Any]]).map { $0["count"] as! Int }.reduce(0, +) == reference.filter.kept.count)
    }

    @Test func badInputsAreOneLineErrors() throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let badCorpus = try MiningSupport.write(["{\"text\": \"fine\"}", "{\"title\": \"no text\"}"], to: "corpus.jsonl", in: directory)
        let badPairs = try MiningSupport.write(["{\"query\": \"q\"}"], to: "pairs.jsonl", in: directory)
        let output = directory.appendingPathComponent("out.jsonl").path
        let mine = ["mine", "--model", MiningSupport.embeddingModel, "--output", output, "--negatives", "2"]
        let cases: [([String], String)] = [
            (mine + ["--data", pairs, "--corpus", corpus, "--range", "5-2"], "--range 5-2: the first rank is after the last"),
            (mine + ["--data", pairs, "--corpus", corpus, "--range", "0-3"], "--range 0-3: ranks start at 1"),
            (mine + ["--data", pairs, "--corpus", corpus, "--range", "1-1"], "fewer than the 2 negatives asked for"),
            (mine + ["--data", pairs, "--corpus", corpus, "--range", "40-50"], "starts past the corpus's last rank (30 documents)"),
            (mine + ["--data", pairs, "--corpus", directory.appendingPathComponent("absent").path, "--range", "1-5"], "absent: no such file"),
            (mine + ["--data", pairs, "--corpus", badCorpus.path, "--range", "1-5"], "\(badCorpus.path):2: missing \"text\""),
            (mine + ["--data", badPairs.path, "--corpus", corpus, "--range", "1-5"], "\(badPairs.path):1: missing the positive"),
            (mine + ["--data", pairs, "--corpus", corpus, "--range", "1-5", "--output", corpus], "is an input"),
            (["filter", "--model", MiningSupport.embeddingModel, "--data", pairs, "--output", pairs], "is the input"),
            (["filter", "--model", MiningSupport.embeddingModel, "--data", pairs, "--output", output, "--min-similarity", "nan"], "--min-similarity must be a finite number"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            let errorLines = result.stderr.split(separator: "\n").filter { $0.contains("error") }
            #expect(errorLines.count == 1, "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
