import Foundation
import Testing
@testable import DataPipeline
@testable import Evaluation
import Training

/// `PairFilter` and its report with the stand-in encoder.
@Suite struct FilterTests {
    @Test func keepsPairsStrictlyAboveTheThresholdVerbatimInInputOrder() async throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines: [String] = []
        for index in 0..<20 {
            var pair: [String: Any] = ["query": "q\(index)", "positive": "p\(index)", "document_id": "doc\(index)"]
            if index % 5 == 0 { pair["instruction"] = "Other task" }
            lines.append(MiningSupport.jsonLine(pair))
        }
        lines.insert("", at: 3)  // a blank line: line numbers still match the file
        lines.append(#"{"query": "ms-swift", "response": "shaped"}"#)
        let data = try MiningSupport.write(lines, to: "pairs.jsonl", in: directory)
        let encoder = HashEncoder(dimensions: 4)
        let dataset = try TrainingDataset(file: data)
        // Brute force: the same vectors, compared here in Double.
        let similarities = dataset.examples.map { example -> Double in
            let query = encoder.vector(for: "I:\(example.instruction(configured: "Configured"))\n" + example.query)
            let positive = encoder.vector(for: "D:" + example.positive)
            return zip(query, positive).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let threshold: Float = 0.1
        let filter = try PairFilter(service: EmbeddingService(encoder: encoder, chunkSize: 7), threshold: threshold, instruction: "Configured")
        let result = try await filter.evaluate(dataset)
        for (got, want) in zip(result.similarities, similarities) { #expect(abs(Double(got) - want) < 1e-6) }
        #expect(result.kept == similarities.map { $0 > Double(threshold) })
        #expect(result.keptCount > 0 && result.keptCount < dataset.count)  // the fixture splits

        let output = directory.appendingPathComponent("kept.jsonl")
        try PairFilter.writeKept(result, of: dataset, to: output)
        let nonBlank = lines.filter { !$0.isEmpty }
        let expected = zip(nonBlank, result.kept).filter { $0.1 }.map { $0.0 + "\n" }.joined()
        #expect(try String(contentsOf: output, encoding: .utf8) == expected)

        let report = SimilarityReport(result)
        #expect(report.total == dataset.count && report.kept == result.keptCount)
        #expect(report.bins.count == 40 && report.bins.map(\.count).reduce(0, +) == dataset.count)
        for value in similarities {
            let bin = report.bins.first { value >= $0.lower && value < $0.upper }!
            #expect(bin.count > 0)
        }
        #expect(report.bins.first!.lower == -1 && report.bins.last!.upper == 1)
        let decoded = try JSONDecoder().decode(SimilarityReport.self, from: report.json())
        #expect(decoded == report)
    }

    @Test func theEdgesOfTheHistogram() {
        let result = PairFilter.Result(similarities: [1, -1, 0.72, 0.68], kept: [true, false, true, false], threshold: 0.7)
        let report = SimilarityReport(result)
        #expect(report.bins[39].count == 1 && report.bins[0].count == 1)  // 1 falls in the last bin, -1 in the first
        #expect(report.bins[34].count == 1 && report.bins[33].count == 1)  // [0.7, 0.75) and [0.65, 0.7)
        #expect(report.bins.map(\.count).reduce(0, +) == 4 && report.kept == 2)
        #expect(throws: MiningError.self) { try PairFilter(service: EmbeddingService(encoder: HashEncoder()), threshold: .infinity) }
    }
}
