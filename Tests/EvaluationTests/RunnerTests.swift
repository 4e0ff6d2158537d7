import Foundation
import Testing
@testable import Evaluation

/// A stand-in encoder whose vectors are known: letter counts of 'a', 'b' and 'c', normalised.
struct LetterCountEncoder: TextEncoder {
    let identifier = "letter-counts"

    func encode(_ texts: [String], instruction: String?) async throws -> (vectors: [[Float]], tokens: Int) {
        let vectors = texts.map { text -> [Float] in
            let counts = ["a", "b", "c"].map { letter in Float(text.filter { String($0) == letter }.count) }
            let norm = counts.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? counts.map { $0 / norm } : counts
        }
        return (vectors, texts.reduce(0) { $0 + $1.count })
    }
}

@Suite struct RunnerTests {
    func beirTask(ignoreIdentical: Bool, in directory: URL) throws -> LoadedTask {
        // q1's own text is also a document with the same id; both tie at the top with d2.
        try Paths.write("{\"_id\": \"q1\", \"text\": \"aab\"}\n{\"_id\": \"d2\", \"text\": \"aab\"}\n{\"_id\": \"d3\", \"title\": \"c\", \"text\": \"cc\"}\n",
                        to: "beir/corpus.jsonl", in: directory)
        try Paths.write("{\"_id\": \"q1\", \"text\": \"aab\"}\n{\"_id\": \"q9\", \"text\": \"unjudged\"}\n", to: "beir/queries.jsonl", in: directory)
        try Paths.write("q1\td2\t1\n", to: "beir/qrels/test.tsv", in: directory)
        let file = try Paths.write(
            #"{"name": "Tiny", "type": "retrieval", "data": {"path": "beir"}, "ignore_identical_ids": \#(ignoreIdentical)}"#,
            to: "task-\(ignoreIdentical).json", in: directory)
        return try LoadedTask(file: file)
    }

    @Test func ignoreIdenticalIDsDropsTheQueryItself() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runner = TaskRunner(embeddings: EmbeddingService(encoder: LetterCountEncoder()))
        // Tied scores: trec_eval order puts "q1" before "d2" (ids descending), so d2 is second…
        let kept = try await runner.run(try beirTask(ignoreIdentical: false, in: directory))
        #expect(kept.scores["ndcg_at_1"] == 0 && kept.scores["mrr_at_10"] == 0.5)
        #expect(kept.counts["queries"] == 1 && kept.counts["documents"] == 3)
        // …unless the query's own id is ignored.
        let ignored = try await runner.run(try beirTask(ignoreIdentical: true, in: directory))
        #expect(ignored.scores["ndcg_at_1"] == 1 && ignored.mainScore == 1)
    }

    @Test func serviceDeduplicatesAndServesRepeatsFromTheCache() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = try EmbeddingCache(directory: directory, modelIdentifier: "letters")
        let service = EmbeddingService(encoder: LetterCountEncoder(), cache: cache, chunkSize: 2)
        let first = try await service.embed(["ab", "c", "ab", "abc"], instruction: nil)
        #expect(first[0] == first[2])
        var throughput = await service.throughput()
        #expect(throughput.texts == 3 && throughput.cachedTexts == 0 && throughput.tokens == 6)
        let again = try await service.embed(["abc", "ab", "new"], instruction: nil)
        throughput = await service.throughput()
        #expect(again[0] == first[3] && again[1] == first[0])
        #expect(throughput.texts == 4 && throughput.cachedTexts == 2)
        _ = try await service.embed(["ab"], instruction: "Query")  // an instruction is a different input
        #expect(await service.throughput().texts == 5)
    }

    @Test func mainScoreMustBeAComputedScore() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Paths.write("s1\ts2\tscore\naa\tab\t1\nbb\tbc\t2\ncc\tca\t3\n", to: "sts.tsv", in: directory)
        let file = try Paths.write(#"{"name": "S", "type": "sts", "main_score": "cosine_kendall", "data": {"path": "sts.tsv", "fields": {"sentence1": "s1", "sentence2": "s2"}}}"#,
                                   to: "sts.json", in: directory)
        let runner = TaskRunner(embeddings: EmbeddingService(encoder: LetterCountEncoder()))
        await #expect { try await runner.run(try LoadedTask(file: file)) } throws: { error in
            (error as? EvaluationError)?.errorDescription?.contains("main_score \"cosine_kendall\" is not among the scores") == true
        }
    }
}
