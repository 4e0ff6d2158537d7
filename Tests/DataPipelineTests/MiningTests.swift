import Foundation
import Testing
import TestSupport
@testable import DataPipeline
@testable import Evaluation
import Training

/// Files and a stand-in encoder for the mining and filter tests.
enum MiningSupport {
    static let tests = TestPaths.repositoryRoot.appendingPathComponent("Tests")
    static let fixtures = TestPaths.fixture("mining")
    static let embeddingModel = TestPaths.tinyEmbeddingModel.path

    /// A fresh temporary folder.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mining-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `lines` (one JSON Lines file) into `directory`.
    @discardableResult
    static func write(_ lines: [String], to name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        return url
    }

    static func jsonLine(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// A deterministic encoder for logic tests: each (instruction, text) gets a pseudo-random unit vector
/// seeded by its bytes, so equal texts get equal vectors and a query differs from the same text as a
/// document. Counts the texts it encodes, and can fail after a number of calls (a killed run).
final class HashEncoder: TextEncoder, @unchecked Sendable {
    let identifier: String
    let dimensions: Int
    private let lock = NSLock()
    private var encoded = 0
    private var calls = 0
    var failAfterCalls: Int?

    init(dimensions: Int = 16, identifier: String = "hash-encoder") {
        self.dimensions = dimensions
        self.identifier = identifier
    }

    var textsEncoded: Int { lock.withLock { encoded } }

    struct Killed: Error {}

    func encode(_ texts: [String], instruction: String?) async throws -> (vectors: [[Float]], tokens: Int) {
        try lock.withLock {
            if let failAfterCalls, calls >= failAfterCalls { throw Killed() }
            calls += 1
            encoded += texts.count
        }
        return (texts.map { vector(for: (instruction.map { "I:\($0)\n" } ?? "D:") + $0) }, texts.count)
    }

    func vector(for text: String) -> [Float] {
        var state: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 { state = (state ^ UInt64(byte)) &* 0x100000001b3 }
        var values = [Float]()
        for _ in 0..<dimensions {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values.append(Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000)
        }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return values.map { $0 / norm }
    }
}

/// The rule on hand-made rankings: ranks, the positive, copies, duplicates, the margin, shortfalls.
@Suite struct MiningSelectionTests {
    typealias Hit = SimilaritySearch.Hit
    let texts = ["pos", "a", "b", "pos", "c", "a", "d", "e"]

    func hits(_ entries: [(Int, Float)]) -> [Hit] { entries.map { Hit(index: $0.0, score: $0.1) } }

    @Test func takesTheFirstQualifyingCandidatesOfTheRangeInRankOrder() throws {
        let rule = try NegativeSelection(ranks: 2...6, count: 2, margin: 0.1)
        // Ranks: 1 "a"(0.9, outside), 2 "b"(0.8), 3 "pos" copy(0.7), 4 "c"(0.6), 5 "d"(0.5).
        let ranking = hits([(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (6, 0.5)])
        let chosen = rule.select(hits: ranking, positive: "pos", positiveScore: 0.75) { texts[$0] }
        #expect(chosen.map(\.index) == [2, 4])  // rank 1 is outside 2...6; the copy of the positive is skipped
    }

    @Test func skipsCandidatesAboveThePositivePlusTheMargin() throws {
        let rule = try NegativeSelection(ranks: 1...5, count: 3, margin: 0.1)
        let ranking = hits([(1, 0.95), (2, 0.61), (4, 0.6), (6, 0.59), (7, 0.2)])
        // Ceiling 0.5 + 0.1: 0.95 and 0.61 are likely false negatives; exactly the ceiling is kept.
        let chosen = rule.select(hits: ranking, positive: "pos", positiveScore: 0.5) { texts[$0] }
        #expect(chosen.map(\.index) == [4, 6, 7])
        let strict = try NegativeSelection(ranks: 1...5, count: 3, margin: -0.2)
        #expect(strict.select(hits: ranking, positive: "pos", positiveScore: 0.5) { texts[$0] }.map(\.index) == [7])
    }

    @Test func skipsThePositiveItselfAndDuplicatedTexts() throws {
        let rule = try NegativeSelection(ranks: 1...8, count: 8, margin: 1)
        let ranking = hits([(0, 0.9), (1, 0.8), (3, 0.7), (5, 0.6), (2, 0.5)])
        let chosen = rule.select(hits: ranking, positive: "pos", positiveScore: 0.9) { texts[$0] }
        #expect(chosen.map(\.text) == ["a", "b"])  // "pos" twice skipped, the second "a" skipped
    }

    @Test func returnsFewerWhenTooFewQualifyAndStopsAtTheCorpusEnd() throws {
        let rule = try NegativeSelection(ranks: 3...100, count: 5, margin: 0)
        let ranking = hits([(1, 0.9), (2, 0.8), (4, 0.3), (6, 0.2)])
        #expect(rule.select(hits: ranking, positive: "pos", positiveScore: 0.4) { texts[$0] }.map(\.index) == [4, 6])
        let far = try NegativeSelection(ranks: 3...Int.max, count: 5, margin: 0)
        #expect(far.select(hits: ranking, positive: "pos", positiveScore: 0.4) { texts[$0] }.map(\.index) == [4, 6])
        let past = try NegativeSelection(ranks: 9...20, count: 5, margin: 0)
        #expect(past.select(hits: ranking, positive: "pos", positiveScore: 0.4) { texts[$0] }.isEmpty)
    }

    @Test func parsesAndRefusesRanges() throws {
        #expect(try NegativeSelection.parseRanks("10-100") == 10...100)
        #expect(try NegativeSelection.parseRanks("1-1") == 1...1)
        for bad in ["0-10", "10-5", "10", "a-b", "-3-4", "3-", "1-2-3"] {
            #expect(throws: MiningError.self, "\(bad)") { try NegativeSelection.parseRanks(bad) }
        }
        #expect(throws: MiningError.self) { try NegativeSelection(ranks: 1...3, count: 0, margin: 0.1) }
        #expect(throws: MiningError.self) { try NegativeSelection(ranks: 1...3, count: 1, margin: .nan) }
    }
}

/// The corpus index and the vector store: streaming reads, formats, errors, resume.
@Suite struct MiningCorpusTests {
    @Test func readsOursAndBEIRWithTitlesBlankLinesAndAByteOrderMark() throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("corpus.jsonl")
        let text = "\u{FEFF}{\"id\": \"a\", \"text\": \"first é\"}\r\n\n  \n{\"_id\": \"b\", \"title\": \"Title\", \"text\": \"second\"}\n{\"text\": \"third\", \"title\": \"\"}"
        try Data(text.utf8).write(to: url)
        let corpus = try CorpusFile(file: url)
        #expect(corpus.count == 3)
        #expect(try corpus.texts(0..<3) == ["first é", "Title second", "third"])
        #expect(corpus.line(of: 1) == 4)
        #expect(try corpus.text(at: 2) == "third")
    }

    @Test(arguments: [
        ("{\"id\": 1}", "2: missing \"text\""),
        ("[1, 2]", "2: not a JSON object"),
        ("{\"text\": 3}", "2: \"text\" must be a string"),
        ("{\"text\": \"\"}", "2: \"text\" is empty"),
        ("{\"text\": \"unterminated", "2: not a JSON object"),
    ])
    func badLinesAreErrorsNamingTheFileAndLine(line: String, expected: String) throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = try MiningSupport.write(["{\"text\": \"fine\"}", line], to: "corpus.jsonl", in: directory)
        let error = #expect(throws: MiningError.self) { try CorpusFile(file: url) }
        #expect(error?.errorDescription?.hasPrefix("\(url.path):\(expected)") == true, "\(error?.errorDescription ?? "")")
        #expect(throws: MiningError.self) { try CorpusFile(file: directory.appendingPathComponent("absent.jsonl")) }
        #expect(throws: MiningError.self) { try CorpusFile(file: directory) }
        let empty = try MiningSupport.write([""], to: "empty.jsonl", in: directory)
        #expect(throws: MiningError.self) { try CorpusFile(file: empty) }
    }

    @Test func theStoreResumesFromItsLastCompleteRowAndDiscardsOtherModels() throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let header = CorpusVectorStore.Header(model: "m", corpus: "c", dimensions: 3)
        do {
            let store = try CorpusVectorStore(directory: directory, header: header)
            try store.append([[1, 2, 3], [4, 5, 6]])
        }
        // A torn third row, as a kill in the middle of a write leaves.
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent("corpus-vectors.f32"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 0x80, 0x3f, 0]))
        try handle.close()
        let resumed = try CorpusVectorStore(directory: directory, header: header)
        #expect(resumed.rows == 2)
        try resumed.append([[7, 8, 9]])
        let values = try resumed.withRows(count: 3) { Array($0) }
        #expect(values == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let other = try CorpusVectorStore(directory: directory, header: .init(model: "other", corpus: "c", dimensions: 3))
        #expect(other.rows == 0)
        #expect(throws: MiningError.self) { try other.append([[1, 2]]) }
    }
}

/// The miner end to end with the stand-in encoder, against a brute-force ranking written here.
@Suite struct MiningPipelineTests {
    /// 120 documents (some repeated, some equal to positives), 12 pairs, 2 instructions.
    func makeInputs(in directory: URL) throws -> (data: URL, corpus: URL) {
        var corpusLines: [String] = []
        for index in 0..<120 {
            let text = index % 37 == 5 ? "repeated document" : "document number \(index) about topic \(index % 7)"
            corpusLines.append(MiningSupport.jsonLine(["id": "d\(index)", "text": text]))
        }
        var pairLines: [String] = []
        for index in 0..<12 {
            var pair: [String: Any] = ["query": "question \(index) on topic \(index % 7)",
                                       "positive": index % 3 == 0 ? "document number \(index * 9) about topic \(index * 9 % 7)" : "an answer \(index)"]
            if index % 4 == 1 { pair["instruction"] = "Find the passage" }
            if index == 2 { pair["negatives"] = ["an old negative"] }
            pairLines.append(MiningSupport.jsonLine(pair))
        }
        return (try MiningSupport.write(pairLines, to: "pairs.jsonl", in: directory),
                try MiningSupport.write(corpusLines, to: "corpus.jsonl", in: directory))
    }

    /// The rule over a full sort of every document, written independently of `NegativeSelection`.
    func bruteForce(encoder: HashEncoder, dataset: TrainingDataset, corpus: [String], count: Int, ranks: ClosedRange<Int>,
                    margin: Float, instruction: String?) -> [[String]] {
        let documents = corpus.map { encoder.vector(for: "D:" + $0) }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        return dataset.examples.map { example in
            let query = encoder.vector(for: "I:\(example.instruction(configured: instruction))\n" + example.query)
            let positiveScore = dot(query, encoder.vector(for: "D:" + example.positive))
            let order = corpus.indices.sorted { a, b in
                let (sa, sb) = (dot(query, documents[a]), dot(query, documents[b]))
                return sa != sb ? sa > sb : a < b
            }
            var chosen: [String] = []
            for rank in ranks where rank <= order.count && chosen.count < count {
                let index = order[rank - 1]
                if dot(query, documents[index]) > positiveScore + Double(margin) { continue }
                if corpus[index] == example.positive || chosen.contains(corpus[index]) { continue }
                chosen.append(corpus[index])
            }
            return chosen
        }
    }

    func readOutput(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    @Test(arguments: [(3, 1...20, Float(0.1)), (5, 4...60, Float(0.0)), (2, 1...120, Float(-0.05))])
    func minesWhatABruteForceSortPicks(count: Int, ranks: ClosedRange<Int>, margin: Float) async throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (data, corpusURL) = try makeInputs(in: directory)
        let encoder = HashEncoder()
        let dataset = try TrainingDataset(file: data)
        let corpus = try CorpusFile(file: corpusURL)
        let store = try CorpusVectorStore(directory: directory.appendingPathComponent("cache"),
                                          header: .init(model: encoder.identifier, corpus: corpus.identity, dimensions: 16))
        let selection = try NegativeSelection(ranks: ranks, count: count, margin: margin)
        let miner = HardNegativeMiner(encoder: encoder, selection: selection, instruction: "Mine it", chunkSize: 16, blockSize: 5)
        let output = directory.appendingPathComponent("mined.jsonl")
        let summary = try await miner.mine(dataset: dataset, corpus: corpus, store: store, output: output)

        let expected = bruteForce(encoder: encoder, dataset: dataset, corpus: try corpus.texts(0..<corpus.count), count: count,
                                  ranks: ranks, margin: margin, instruction: "Mine it")
        let lines = try readOutput(output)
        #expect(lines.count == 12)
        #expect(lines.map { $0["negatives"] as! [String] } == expected)
        #expect(summary.negatives == expected.map(\.count).reduce(0, +))
        #expect(summary.examplesShort == expected.filter { $0.count < count }.count)
        #expect(expected.contains { !$0.isEmpty })  // the check compares something
        // The training reader takes the output back; queries, positives and instructions are kept.
        let reread = try TrainingDataset(file: output)
        #expect(reread.examples.map(\.query) == dataset.examples.map(\.query))
        #expect(reread.examples.map(\.positive) == dataset.examples.map(\.positive))
        #expect(reread.examples.map { $0.instruction } == dataset.examples.map { $0.instruction ?? "Mine it" })
        #expect(!reread.examples[2].negatives.contains("an old negative"))
    }

    @Test func anInterruptedRunResumesWithoutEmbeddingTwiceAndGivesTheSameOutput() async throws {
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (data, corpusURL) = try makeInputs(in: directory)
        let dataset = try TrainingDataset(file: data)
        let corpus = try CorpusFile(file: corpusURL)
        let selection = try NegativeSelection(ranks: 2...30, count: 4, margin: 0.1)
        let header = CorpusVectorStore.Header(model: "hash-encoder", corpus: corpus.identity, dimensions: 16)

        let reference = directory.appendingPathComponent("reference.jsonl")
        let fresh = HashEncoder()
        _ = try await HardNegativeMiner(encoder: fresh, selection: selection, chunkSize: 16)
            .mine(dataset: dataset, corpus: corpus, store: try CorpusVectorStore(directory: directory.appendingPathComponent("a"), header: header),
                  output: reference)

        let killed = HashEncoder()
        killed.failAfterCalls = 3  // three chunks of 16 documents stored, then "killed"
        let output = directory.appendingPathComponent("mined.jsonl")
        let cache = directory.appendingPathComponent("b")
        await #expect(throws: HashEncoder.Killed.self) {
            _ = try await HardNegativeMiner(encoder: killed, selection: selection, chunkSize: 16)
                .mine(dataset: dataset, corpus: corpus, store: try CorpusVectorStore(directory: cache, header: header), output: output)
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))  // no partial output
        let resumedEncoder = HashEncoder()
        let store = try CorpusVectorStore(directory: cache, header: header)
        #expect(store.rows == 48)
        let summary = try await HardNegativeMiner(encoder: resumedEncoder, selection: selection, chunkSize: 16)
            .mine(dataset: dataset, corpus: corpus, store: store, output: output)
        #expect(summary.embeddedDocuments == 72)
        #expect(resumedEncoder.textsEncoded == 72 + 2 * 12)  // the rest of the corpus, then queries and positives
        #expect(try Data(contentsOf: output) == Data(contentsOf: reference))
    }
}
