import Foundation
import Testing
@testable import Tokenizer

/// Where the reference files are: the shared tokenizer files beside the repository, and our corpus.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/tokenizer")
    static let embeddingFixture = packageRoot.appendingPathComponent("Tests/Fixtures/tiny-qwen3-embedding")
    static let rerankerFixture = packageRoot.appendingPathComponent("Tests/Fixtures/tiny-qwen3-reranker")
    static let corpus = packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer/corpus.json")
}

struct CorpusEntry: Decodable {
    let text: String?
    let bytes_b64: String?
    let ids_embedding: [Int]
    let ids_reranker: [Int]
    let ids_no_special: [Int]
    let ids_truncated_8: [Int]

    /// The input as our CLI would read it from a file: invalid UTF-8 replaced by U+FFFD.
    var input: String {
        if let text { return text }
        return String(decoding: Data(base64Encoded: bytes_b64!)!, as: UTF8.self)
    }
}

@Suite struct TokenizerParityTests {
    static let embedding = Result { try Tokenizer.load(directory: Paths.embeddingFixture) }
    static let rerankerFallback = Result { try Tokenizer.load(directory: Paths.rerankerFixture) }
    static let corpus = Result { try JSONDecoder().decode([CorpusEntry].self, from: Data(contentsOf: Paths.corpus)) }

    /// llama.cpp's 46 qwen2 tokenizer vectors (produced with Hugging Face), without special tokens.
    @Test func llamaCppVectors() throws {
        let inputURL = Paths.shared.appendingPathComponent("ggml-vocab-qwen2.gguf.inp")
        let outputURL = Paths.shared.appendingPathComponent("ggml-vocab-qwen2.gguf.out")
        let inputs = try String(contentsOf: inputURL, encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOf: outputURL, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let tokenizer = try Self.embedding.get()
        var checked = 0
        for (index, text) in inputs.enumerated() where index < outputs.count {
            if index == inputs.count - 1 && text.isEmpty { continue }  // after the final separator
            let expected = outputs[index].split(separator: " ").compactMap { Int($0) }
            #expect(tokenizer.encode(text, addSpecialTokens: false) == expected, "vector \(index): \(text.debugDescription)")
            checked += 1
        }
        #expect(checked == 46)
    }

    @Test func corpusMatchesHuggingFace() throws {
        let corpus = try Self.corpus.get()
        let embedding = try Self.embedding.get()
        let reranker = try Tokenizer.load(directory: Paths.shared.appendingPathComponent("qwen3-reranker"))
        let fallback = try Self.rerankerFallback.get()
        #expect(corpus.count >= 150)
        var mismatches = 0
        for entry in corpus {
            let text = entry.input
            let checks: [(String, [Int], [Int])] = [
                ("embedding", embedding.encode(text), entry.ids_embedding),
                ("no special", embedding.encode(text, addSpecialTokens: false), entry.ids_no_special),
                ("truncated 8", embedding.encode(text, maxLength: 8), entry.ids_truncated_8),
                ("reranker tokenizer.json", reranker.encode(text), entry.ids_reranker),
                ("reranker vocab+merges", fallback.encode(text), entry.ids_reranker),
            ]
            for (name, actual, expected) in checks where actual != expected {
                mismatches += 1
                Issue.record("\(name) differs for \(text.debugDescription): \(actual) vs \(expected)")
            }
        }
        print("tokenizer parity: \(corpus.count) corpus strings × 5 configurations, \(mismatches) mismatches")
    }

    @Test func decodeRoundTrips() throws {
        let tokenizer = try Self.embedding.get()
        for entry in try Self.corpus.get() where entry.text != nil {
            let text = entry.text!
            let decoded = tokenizer.decode(tokenizer.encode(text, addSpecialTokens: false))
            #expect(decoded == text.precomposedStringWithCanonicalMapping, "\(text.debugDescription)")
        }
        #expect(tokenizer.decode([9707, 1879, 151643]) == "Hello world<|endoftext|>")
        #expect(tokenizer.decode([9707, 1879, 151643], skipSpecialTokens: true) == "Hello world")
        #expect(tokenizer.decode([-1, 10_000_000, 9707]) == "Hello", "unknown ids are skipped")
    }

    @Test func truncationKeepsTheAppendedEOS() throws {
        let tokenizer = try Self.embedding.get()
        let ids = tokenizer.encode(String(repeating: "word ", count: 50), maxLength: 4)
        #expect(ids.count == 4 && ids.last == 151643)
        #expect(tokenizer.encode("x", maxLength: 1) == [151643])
        #expect(tokenizer.numberOfAddedSpecialTokens == 1)
        #expect(try Self.rerankerFallback.get().numberOfAddedSpecialTokens == 0)
    }

    @Test func lookups() throws {
        let tokenizer = try Self.embedding.get()
        #expect(tokenizer.id(forToken: "yes") == 9693)
        #expect(tokenizer.id(forToken: "no") == 2152)
        #expect(tokenizer.id(forToken: "<|endoftext|>") == 151643)
        #expect(tokenizer.id(forToken: "</think>") == 151668)
        #expect(tokenizer.token(forID: 151644) == "<|im_start|>")
        #expect(tokenizer.vocabularySize == 151669)
    }

    /// A single enormous pre-token (no spaces) must not take quadratic time or crash.
    @Test func longPiecesAreLinearish() throws {
        let tokenizer = try Self.embedding.get()
        let ids = tokenizer.encode(String(repeating: "abcdefghij", count: 20_000), addSpecialTokens: false)
        #expect(!ids.isEmpty)
        #expect(tokenizer.decode(ids) == String(repeating: "abcdefghij", count: 20_000))
    }

    @Test func concurrentUseIsSafe() async throws {
        let tokenizer = try Self.embedding.get()
        let corpus = try Self.corpus.get()
        await withTaskGroup(of: Bool.self) { group in
            for offset in 0..<4 {
                group.addTask {
                    corpus.enumerated().filter { $0.offset % 4 == offset }.allSatisfy { tokenizer.encode($0.element.input) == $0.element.ids_embedding }
                }
            }
            for await result in group { #expect(result) }
        }
    }
}

@Suite struct TokenizerLoadingTests {
    func temporaryDirectory(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, contents) in files { try contents.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return directory
    }

    func realJSON() throws -> [String: Any] {
        let data = try Data(contentsOf: Paths.embeddingFixture.appendingPathComponent("tokenizer.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func load(_ json: [String: Any]) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json))
    }

    @Test func refusesComponentsItDoesNotImplement() throws {
        var json = try realJSON()
        json["normalizer"] = ["type": "NFKC"]
        #expect(throws: TokenizerError.self) { try load(json) }

        json = try realJSON()
        var model = json["model"] as! [String: Any]
        model["type"] = "WordPiece"
        json["model"] = model
        #expect(throws: TokenizerError.self) { try load(json) }

        json = try realJSON()
        json["post_processor"] = ["type": "RobertaProcessing"]
        #expect(throws: TokenizerError.self) { try load(json) }

        json = try realJSON()
        json["pre_tokenizer"] = ["type": "Whitespace"]
        #expect(throws: TokenizerError.self) { try load(json) }

        json = try realJSON()
        json["decoder"] = ["type": "WordPiece"]
        #expect(throws: TokenizerError.self) { try load(json) }
    }

    @Test func malformedFilesAreErrorsNamingTheProblem() throws {
        #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: Data("{not json".utf8)) }
        #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: Data("[]".utf8)) }
        #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: Data(#"{"model": {"type": "BPE"}}"#.utf8)) }
        let empty = try temporaryDirectory([:])
        do {
            _ = try Tokenizer.load(directory: empty)
            Issue.record("expected an error")
        } catch {
            #expect(error.localizedDescription.contains("tokenizer.json"))
        }
        let badMerges = try temporaryDirectory(["vocab.json": #"{"a": 0}"#, "merges.txt": "#version: 0.2\na b c\n"])
        #expect(throws: TokenizerError.self) { try Tokenizer.load(directory: badMerges) }
        let badJSON = try temporaryDirectory(["tokenizer.json": "\u{0}\u{1}garbage"])
        #expect(throws: TokenizerError.self) { try Tokenizer.load(directory: badJSON) }
    }

    @Test func preTokenizerSplitsLikeTheRegex() {
        let splitter = QwenPreTokenizer()
        func pieces(_ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return splitter.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
        }
        #expect(pieces("Hello world") == ["Hello", " world"])
        #expect(pieces("it's") == ["it", "'s"])
        #expect(pieces("a   b") == ["a", "  ", " b"])
        #expect(pieces("x \n\n y") == ["x", " \n\n", " y"])
        #expect(pieces("123") == ["1", "2", "3"])
        #expect(pieces("!!!\n\nx") == ["!!!\n\n", "x"])
        #expect(pieces("end   ") == ["end", "   "])
        #expect(pieces(" .Hi") == [" .", "Hi"])
    }
}
