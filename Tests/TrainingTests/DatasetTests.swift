import Evaluation
import Foundation
import Qwen3Embedding
import Testing
@testable import Training

/// Training data: the three JSON Lines shapes, validation naming file and line, negative sampling and
/// the text formatting the trainer uses.
@Suite struct DatasetTests {
    /// Writes `contents` to a fresh file and returns its path (removed by the caller's scratch).
    final class DataFile {
        let path: String
        convenience init(_ contents: String) throws { try self.init(bytes: Array(contents.utf8)) }
        init(bytes: [UInt8]) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-\(UUID().uuidString).jsonl").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func readsAllThreeShapes() throws {
        let file = try DataFile("""
            {"query": "q1", "positive": "p1", "negatives": ["n1", "n2"], "instruction": "Find code"}
            {"query": "q2", "pos": ["p2", "p2b"], "neg": ["n3"], "prompt": "Find papers", "pos_scores": [1.0]}
            {"query": "q3", "response": "p3", "rejected_response": ["n4", "n5", "n6"]}

            {"query": "q4", "positive": "p4"}\r
            {"query": "q5", "pos": ["p5"]}
            """)
        let dataset = try TrainingDataset(file: URL(fileURLWithPath: file.path))
        #expect(dataset.examples == [
            TrainingExample(query: "q1", positive: "p1", negatives: ["n1", "n2"], instruction: "Find code", line: 1),
            TrainingExample(query: "q2", positive: "p2", negatives: ["n3"], instruction: "Find papers", line: 2),
            TrainingExample(query: "q3", positive: "p3", negatives: ["n4", "n5", "n6"], line: 3),
            TrainingExample(query: "q4", positive: "p4", line: 5),
            TrainingExample(query: "q5", positive: "p5", line: 6),
        ])
    }

    /// The message for `contents`, which must be refused.
    func error(_ contents: String, negatives: Int? = nil) throws -> String {
        let file = try DataFile(contents)
        do {
            _ = try TrainingDataset(file: URL(fileURLWithPath: file.path), negatives: negatives)
            return "accepted"
        } catch let error as TrainingDataError {
            #expect(error.path == file.path)
            return error.errorDescription!.replacingOccurrences(of: file.path, with: "FILE")
        }
    }

    @Test func badLinesNameTheFileAndLine() throws {
        let good = #"{"query": "q", "positive": "p"}"#
        let cases: [(String, String)] = [
            ("{\"query\": \"q\", ", "FILE:2: not valid JSON"),
            (#"["q", "p"]"#, "FILE:2: not a JSON object (each line must be one example)"),
            (#"{"positive": "p"}"#, "FILE:2: missing \"query\""),
            (#"{"query": "q"}"#, "FILE:2: missing the positive: \"positive\" (or FlagEmbedding's \"pos\", ms-swift's \"response\")"),
            (#"{"text": "q"}"#, "FILE:2: not a training example: expected {\"query\", \"positive\", \"negatives\"}, {\"query\", \"pos\", \"neg\"} or {\"query\", \"response\", \"rejected_response\"}"),
            (#"{"query": 3, "positive": "p"}"#, "FILE:2: \"query\" must be a string"),
            (#"{"query": "", "positive": "p"}"#, "FILE:2: \"query\" is empty"),
            (#"{"query": "q", "positive": ""}"#, "FILE:2: \"positive\" is empty"),
            (#"{"query": "q", "positive": "p", "negatives": "n"}"#, "FILE:2: \"negatives\" must be a list of strings"),
            (#"{"query": "q", "positive": "p", "negatives": ["n", 1]}"#, "FILE:2: \"negatives\"[1] must be a string"),
            (#"{"query": "q", "positive": "p", "negatives": [""]}"#, "FILE:2: \"negatives\"[0] is empty"),
            (#"{"query": "q", "positive": "p", "instruction": ""}"#, "FILE:2: \"instruction\" is empty"),
            (#"{"query": "q", "pos": []}"#, "FILE:2: \"pos\" is empty: an example needs a positive"),
            (#"{"query": "q", "pos": "p"}"#, "FILE:2: \"pos\" must be a list of strings"),
            (#"{"query": "q", "response": ["p"]}"#, "FILE:2: \"response\" must be a string"),
            (#"{"query": "q", "positive": "p", "pos": ["p"]}"#, "FILE:2: has both \"positive\" and \"pos\": one example shape per line (positive, pos or response)"),
        ]
        for (line, expected) in cases {
            #expect(try error(good + "\n" + line + "\n" + good) == expected)
        }
        #expect(try error("", negatives: nil) == "FILE: no training examples (the file is empty or has only blank lines)")
        #expect(try error("\n  \n\n") == "FILE: no training examples (the file is empty or has only blank lines)")
        #expect(try error(good + "\n" + #"{"query": "q", "positive": "p", "negatives": ["a"]}"#, negatives: 1)
            == "FILE:1: 0 hard negatives, fewer than the 1 asked for (--negatives); add more or pass --allow-fewer-negatives")
    }

    @Test func invalidUTF8AndByteOrderMark() throws {
        let bad = try DataFile(bytes: Array(#"{"query": "q", "positive": "p"}"#.utf8) + [0x0A] + Array(#"{"query": "q"#.utf8) + [0xC3, 0x28] + Array(#"", "positive": "p"}"#.utf8))
        #expect(throws: TrainingDataError(path: bad.path, line: 2, reason: "not valid UTF-8")) { try TrainingDataset(file: URL(fileURLWithPath: bad.path)) }
        let bom = try DataFile(bytes: [0xEF, 0xBB, 0xBF] + Array(#"{"query": "é", "positive": "p"}"#.utf8))
        #expect(try TrainingDataset(file: URL(fileURLWithPath: bom.path)).examples.map(\.query) == ["é"])
    }

    @Test func missingFileAndDirectory() throws {
        #expect(throws: TrainingDataError(path: "/nonexistent/data.jsonl", line: nil, reason: "no such file")) {
            try TrainingDataset(file: URL(fileURLWithPath: "/nonexistent/data.jsonl"))
        }
        let directory = FileManager.default.temporaryDirectory.path
        #expect(throws: TrainingDataError.self) { try TrainingDataset(file: URL(fileURLWithPath: directory)) }
        #expect(throws: TrainingDataError(path: "(examples)", line: nil, reason: "no training examples")) { try TrainingDataset(examples: []) }
    }

    @Test func negativesCountIsCheckedUnlessFewerAreAllowed() throws {
        let file = try DataFile("""
            {"query": "q1", "positive": "p1", "negatives": ["a", "b", "c"]}
            {"query": "q2", "positive": "p2", "negatives": ["d"]}
            """)
        #expect(throws: TrainingDataError.self) { try TrainingDataset(file: URL(fileURLWithPath: file.path), negatives: 2) }
        do {
            _ = try TrainingDataset(file: URL(fileURLWithPath: file.path), negatives: 2)
        } catch let error as TrainingDataError {
            #expect(error.line == 2)
        }
        let lenient = try TrainingDataset(file: URL(fileURLWithPath: file.path), negatives: 2, allowFewerNegatives: true)
        #expect(lenient.examples.map(\.negatives.count) == [3, 1])
        #expect(try TrainingDataset(file: URL(fileURLWithPath: file.path), negatives: 0).count == 2)
    }

    @Test func negativesAreSampledWithTheSeedOrTakenInOrder() throws {
        let example = TrainingExample(query: "q", positive: "p", negatives: (0..<10).map { "n\($0)" })
        var generator = SeededGenerator(seed: 42)
        let first = example.selectingNegatives(3, shuffle: true, using: &generator)
        #expect(first.negatives.count == 3 && Set(first.negatives).count == 3)
        #expect(first.negatives.allSatisfy(example.negatives.contains))
        // The same seed draws the same negatives; the generator moved on, so the next draw differs
        // (with 10·9·8 = 720 ordered draws, equality would be a 1-in-720 accident for this fixed seed).
        var again = SeededGenerator(seed: 42)
        #expect(example.selectingNegatives(3, shuffle: true, using: &again).negatives == first.negatives)
        #expect(again.state == generator.state)
        let second = example.selectingNegatives(3, shuffle: true, using: &generator)
        #expect(second.negatives != first.negatives)
        // Over many draws every negative is picked: a sampler stuck on a prefix fails here.
        var seen = Set<String>()
        for _ in 0..<50 { seen.formUnion(example.selectingNegatives(3, shuffle: true, using: &generator).negatives) }
        #expect(seen == Set(example.negatives))

        var untouched = SeededGenerator(seed: 9)
        #expect(example.selectingNegatives(3, shuffle: false, using: &untouched).negatives == ["n0", "n1", "n2"])
        #expect(example.selectingNegatives(10, shuffle: true, using: &untouched) == example)
        #expect(example.selectingNegatives(12, shuffle: true, using: &untouched) == example)
        #expect(untouched.state == 9, "no draw when nothing is sampled")
        #expect(example.selectingNegatives(0, shuffle: true, using: &untouched).negatives.isEmpty)
    }

    @Test func textsAreFormattedAsInference() throws {
        let plain = TrainingExample(query: "capital of China?", positive: "Beijing.", negatives: ["Tokyo."])
        #expect(plain.formattedQuery(configuredInstruction: nil) == Prompts.embeddingQuery("capital of China?", instruction: Prompts.defaultInstruction))
        #expect(plain.formattedQuery(configuredInstruction: "Find cities") == "Instruct: Find cities\nQuery:capital of China?")
        var own = plain
        own.instruction = "Find capitals"
        #expect(own.formattedQuery(configuredInstruction: "Find cities") == "Instruct: Find capitals\nQuery:capital of China?")
        #expect(own.instruction(configured: "Find cities") == "Find capitals")
        #expect(plain.documents == ["Beijing.", "Tokyo."])
    }

    /// A file larger than one read chunk, with lines straddling chunk boundaries, reads exactly.
    @Test func longFilesAreStreamedLineByLine() throws {
        let filler = String(repeating: "x", count: 3000)
        let lines = (0..<800).map { #"{"query": "q\#($0)", "positive": "\#(filler)\#($0)", "negatives": ["n\#($0)"]}"# }
        let file = try DataFile(lines.joined(separator: "\n") + "\n")
        let dataset = try TrainingDataset(file: URL(fileURLWithPath: file.path), negatives: 1)
        #expect(dataset.count == 800)
        #expect(dataset.examples.map(\.query) == (0..<800).map { "q\($0)" })
        #expect(dataset.examples.map(\.line) == Array(1...800))
        #expect(dataset.examples[799].positive == filler + "799")
    }
}
