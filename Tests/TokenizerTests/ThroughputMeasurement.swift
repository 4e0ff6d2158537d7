import Foundation
import Testing
import TestSupport
@testable import Tokenizer

/// A measurement, not a test: prints encoding throughput and never fails on time. Meaningful only in
/// release builds:
///
///     swift test -c release -Xswiftc -enable-testing --filter ThroughputMeasurement
@Suite struct ThroughputMeasurement {
    #if DEBUG
    static let budget = 200_000  // debug builds are ~20× slower; keep the suite quick
    #else
    static let budget = 2_000_000
    #endif

    @Test func encodingThroughput() throws {
        let tokenizer = try Shared.embedding.get()
        // Ordinary English: MS MARCO passages from the shared data, when present beside the clone.
        let passages = Paths.shared.deletingLastPathComponent().appendingPathComponent("../data/msmarco-subset/corpus.jsonl")
        if let data = try? Data(contentsOf: passages.standardizedFileURL) {
            let texts = data.split(separator: UInt8(ascii: "\n")).compactMap { line in
                (try? JSONSerialization.jsonObject(with: line) as? [String: Any])?["text"] as? String
            }
            measure("English passages", documents: Self.take(texts), tokenizer)
        }
        // Multilingual and adversarial: the corpus's strings (CJK, Arabic, emoji, code, NFC cases,
        // long pieces…), eight to a document.
        let sentences = try Shared.corpus.get().compactMap(\.text).filter { $0.utf8.count > 10 && $0.utf8.count < 400 }
        var generator = SeededGenerator(seed: 42)
        var documents: [String] = []
        var total = 0
        while total < Self.budget {
            let document = (0..<8).map { _ in sentences.randomElement(using: &generator)! }.joined(separator: " ")
            documents.append(document)
            total += document.utf8.count
        }
        measure("multilingual corpus mix", documents: documents, tokenizer)

        // One long pre-token: the heap-based merge keeps this near-linear.
        let word = String(repeating: "tokenization", count: Self.budget / 24)
        let start = ContinuousClock.now
        let count = tokenizer.encode(word, addSpecialTokens: false).count
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        print(String(format: "tokenizer measurement: single %d-byte pre-token in %.2f s (%d tokens)",
                     word.utf8.count, seconds, count))
    }

    static func take(_ texts: [String]) -> [String] {
        var total = 0
        return Array(texts.prefix { text in
            total += text.utf8.count
            return total <= budget
        })
    }

    func measure(_ name: String, documents: [String], _ tokenizer: Tokenizer) {
        let bytes = documents.reduce(0) { $0 + $1.utf8.count }
        // Round 1 starts with a cold piece cache; later rounds show the warm steady state.
        for round in 1...3 {
            let start = ContinuousClock.now
            var tokens = 0
            for document in documents { tokens += tokenizer.encode(document).count }
            let seconds = (ContinuousClock.now - start) / .seconds(1)
            print("tokenizer measurement: \(name), round \(round): " + String(
                format: "%.1f MB/s, %.2f M tokens/s (%d documents, %d bytes)",
                Double(bytes) / seconds / 1e6, Double(tokens) / seconds / 1e6, documents.count, bytes))
        }
    }
}
