import Foundation
import Testing

/// `qwen3-embed eval` as a log of an unattended run sees it (stderr is a pipe, not a terminal), and
/// `eval --compare`, and `--version`.
extension CLITests {
    static let tasks = packageRoot.appendingPathComponent("tasks")

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("eval-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func evalLogsEachTaskAndRecordsItsLimits() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("quick")
        let result = try run([
            "eval", "--model", Self.embeddingModel, "--tasks", Self.tasks.appendingPathComponent("jsts.json").path,
            Self.tasks.appendingPathComponent("arcd-retrieval.json").path, "--limit", "3", "--corpus-limit", "10",
            "--max-length", "128", "--no-cache", "--output", output.path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let log = result.stderr.split(separator: "\n").map(String.init)
        // One line when each task starts and one when it ends, in order, prefixed as every non-terminal line is.
        let taskLines = log.filter { $0.hasPrefix("qwen3-embed: task ") }
        #expect(taskLines.count == 4, "\(log)")
        if taskLines.count == 4 {
            #expect(taskLines[0] == "qwen3-embed: task 1/2 JSTS (sts): started")
            #expect(taskLines[1].hasPrefix("qwen3-embed: task 1/2 JSTS (sts): done in ") && taskLines[1].contains("texts/s")
                    && taskLines[1].contains("limit 3") && taskLines[1].contains("cosine_spearman"))
            #expect(taskLines[2].hasPrefix("qwen3-embed: task 2/2 ") && taskLines[2].hasSuffix("(retrieval): started"))
            #expect(taskLines[3].contains("limit 3, corpus limit 10") && taskLines[3].contains("ndcg_at_10"))
        }
        #expect(!result.stderr.contains("\r"))  // no progress bar redraws in a log
        let results = result.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(results.map(\.count) == [4, 4] && results.first?.first == "JSTS", "\(result.stdout)")

        let runFile = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("run.json"))) as! [String: Any]
        #expect(runFile["limit"] as? Int == 3 && runFile["corpus_limit"] as? Int == 10)
        let summary = try String(contentsOf: output.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("| quick | tiny-qwen3-embedding | limit 3, corpus limit 10 |"), "\(summary)")

        // The same run twice, compared: columns named by the directories given.
        try FileManager.default.copyItem(at: output, to: directory.appendingPathComponent("again"))
        let compared = try run(["eval", "--compare", output.path, directory.appendingPathComponent("again").path])
        #expect(compared.status == 0, "\(compared.stderr)")
        #expect(compared.stdout.contains("| Task | Lang | Split | Metric | Limits | \(output.path) | \(directory.appendingPathComponent("again").path) |"))
    }

    @Test func versionIsPrinted() throws {
        let result = try run(["--version"])
        #expect(result.status == 0 && result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0", "\(result)")
    }
}
