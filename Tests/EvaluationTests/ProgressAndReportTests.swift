import Foundation
import Testing
@testable import Evaluation

/// What a running evaluation tells (task start/end events, results as they finish), the subsampling
/// recorded in every output, and side-by-side reports of runs over different task sets.
@Suite struct ProgressAndReportTests {
    /// Collects events from the session's callback.
    final class EventLog: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [EvaluationEvent] = []
        func append(_ event: EvaluationEvent) { lock.withLock { events.append(event) } }
        var all: [EvaluationEvent] { lock.withLock { events } }
    }

    static func result(_ task: String, _ type: TaskType, _ score: Double, limit: Int? = nil, corpusLimit: Int? = nil) -> TaskResult {
        TaskResult(task: task, type: type, language: "en", split: "test", instruction: nil, mainScoreName: "main",
                   mainScore: score, scores: ["main": score], counts: ["pairs": 10], seconds: 1, reranked: false,
                   limit: limit, corpusLimit: corpusLimit)
    }

    static func run(_ model: String, _ results: [TaskResult], limit: Int? = nil) -> RunReport {
        let summary = RunSummary(
            model: model, modelPath: "/models/\(model)", reranker: nil, precision: "fp32", dimensions: nil, loadSeconds: 1,
            rerankerLoadSeconds: nil, peakResidentBytes: 1 << 20, embedding: .init(texts: 10, tokens: 100, seconds: 1, cachedTexts: 0),
            totalSeconds: 2, tasks: results.map(\.task), limit: limit)
        return RunReport(summary: summary, results: results)
    }

    @Test func eventLinesGivePositionCountsRateSubsetAndScore() {
        let started = EvaluationEvent.taskStarted(.init(index: 2, count: 5), task: "JSTS", type: .sts)
        #expect(started.line == "task 2/5 JSTS (sts): started")
        let result = Self.result("ARCD", .retrieval, 0.812345, limit: 4, corpusLimit: 12)
        let work = EmbeddingService.Throughput(texts: 50, tokens: 900, seconds: 2, cachedTexts: 3)
        #expect(EvaluationEvent.taskFinished(.init(index: 3, count: 5), result: result, embedding: work).line
                == "task 3/5 ARCD (retrieval): done in 1.0 s; 10 pairs; embedded 50 texts (+3 from the cache) at 25.0 texts/s; "
                + "limit 4, corpus limit 12; main 0.81234")
        let cachedOnly = EvaluationEvent.taskFinished(.init(index: 1, count: 1), result: Self.result("X", .sts, 0.5),
                                                      embedding: .init(texts: 0, tokens: 0, seconds: 0, cachedTexts: 7))
        #expect(cachedOnly.line.contains("; all 7 texts from the cache; main 0.50000"))
    }

    /// The session reports each task's start and end in order, with the result it returns and the encoder
    /// work done during that task; --limit and --corpus-limit reach every result, run.json and summary.md.
    @Test func sessionReportsEachTaskAndRecordsItsLimits() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = EvaluationConfiguration(
            model: URL(fileURLWithPath: Paths.embeddingModel), taskFiles: [URL(fileURLWithPath: Paths.task("jsts.json")), URL(fileURLWithPath: Paths.task("arcd-retrieval.json"))],
            limit: 3, corpusLimit: 10, cacheDirectory: nil, maxLength: 128)
        let log = EventLog()
        let report = try await EvaluationSession.run(configuration, event: { log.append($0) })
        let events = log.all
        #expect(events.count == 4)
        guard events.count == 4 else { return }
        guard case .taskStarted(let p0, "JSTS", .sts) = events[0], case .taskFinished(let p1, let r1, let w1) = events[1],
              case .taskStarted(let p2, let name2, .retrieval) = events[2], case .taskFinished(let p3, let r2, let w2) = events[3]
        else {
            Issue.record("events out of order: \(events.map(\.line))")
            return
        }
        #expect([p0, p1, p2, p3].map(\.index) == [1, 1, 2, 2] && [p0, p1, p2, p3].allSatisfy { $0.count == 2 })
        #expect(name2 == report.results[1].task)
        #expect([r1, r2] == report.results)
        #expect(w1.texts > 0 && w2.texts > 0)
        #expect(w1.texts + w2.texts == report.summary.embedding.texts && w1.tokens + w2.tokens == report.summary.embedding.tokens)

        #expect(report.results[0].limit == 3 && report.results[0].corpusLimit == nil)  // corpus_limit is retrieval's only
        #expect(report.results[1].limit == 3 && report.results[1].corpusLimit == 10)
        #expect(report.summary.limit == 3 && report.summary.corpusLimit == 10)

        let output = directory.appendingPathComponent("quick-run")
        try report.write(to: output)
        for file in ["run.json", RunReport.resultFileName(report.results[1].task)] {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent(file))) as! [String: Any]
            #expect(object["limit"] as? Int == 3 && object["corpus_limit"] as? Int == 10, "\(file)")
        }
        let stsFile = try JSONSerialization.jsonObject(
            with: Data(contentsOf: output.appendingPathComponent(RunReport.resultFileName("JSTS")))) as! [String: Any]
        #expect(stsFile["limit"] as? Int == 3 && stsFile["corpus_limit"] is NSNull)  // written as null, not left out
        let read = try RunReport.read(from: output)
        #expect(read.results == report.results && read.summary == report.summary)
        let summary = try String(contentsOf: output.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("| quick-run | tiny-qwen3-embedding | limit 3, corpus limit 10 |"))
        #expect(summary.contains("| limit 3, corpus 10 |") && summary.contains("| limit 3 |"))
    }

    /// Columns are labelled by run directory; averages use only tasks every run has.
    @Test func comparisonLabelsRunsAndAveragesCommonTasksOnly() {
        let a = Self.run("model", [Self.result("T1", .sts, 0.5), Self.result("T2", .sts, 0.3), Self.result("R1", .retrieval, 0.9)])
        let b = Self.run("model", [Self.result("T1", .sts, 0.7)], limit: 20)
        let markdown = MarkdownReport.render([a, b], labels: ["runs/fp32", "runs/bf16"])
        let lines = markdown.split(separator: "\n").map(String.init)
        // Only STS is in both runs, and within it only T1: the averages are T1's scores.
        #expect(lines.contains("| Run | Model | Subset | Avg | STS |"))
        #expect(lines.contains("| runs/fp32 | model | full | 50.00 | 50.00 |"))
        #expect(lines.contains("| runs/bf16 | model | limit 20 | 70.00 | 70.00 |"))
        #expect(markdown.contains("Only 1 of 3 tasks are in every run") && markdown.contains("(no average for Retrieval)"))
        #expect(lines.contains("| Task | Lang | Split | Metric | Limits | runs/fp32 | runs/bf16 |"))
        #expect(lines.contains("| T2 | en | test | main | full | 30.00 | – |"))
        #expect(lines.contains("| R1 | en | test | main | full | 90.00 | – |"))
        #expect(lines.contains { $0.hasPrefix("| runs/bf16 | model | fp32 |") })  // speed table, same labels

        // Without labels (one run's summary.md is labelled by its directory) the model names label the rows.
        let alone = MarkdownReport.render([a])
        #expect(alone.contains("| Run | Model | Subset | Avg | Retrieval | STS |"))
        #expect(alone.contains("| model | model | full | 65.00 | 90.00 | 40.00 |"))  // mean of the type averages
        #expect(!alone.contains("Only "))
    }
}
