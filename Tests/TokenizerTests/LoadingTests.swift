import Foundation
import Testing
@testable import Tokenizer

/// Loading: the components this implementation refuses, and malformed or missing files.
@Suite struct LoadingTests {
    /// The real Qwen3-Embedding tokenizer.json as JSON objects, to mutate (parsed per use: `[String: Any]`
    /// is not `Sendable`).
    static func realJSON() throws -> [String: Any] {
        let data = try Data(contentsOf: Paths.embedding.appendingPathComponent("tokenizer.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// A small tokenizer.json with the Qwen components: the 256 byte tokens, one merge, one added token.
    static func miniJSON() -> [String: Any] {
        var vocab: [String: Int] = [:]
        for byte in 0..<256 { vocab[String(ByteLevel.scalarForByte[byte])] = byte }
        vocab["ĠĠ"] = 256
        return [
            "version": "1.0",
            "added_tokens": [["id": 300, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false, "special": true]],
            "normalizer": ["type": "NFC"],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": QwenPreTokenizer.pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            ]],
            "post_processor": ["type": "TemplateProcessing",
                               "single": [["Sequence": ["id": "A", "type_id": 0]], ["SpecialToken": ["id": "<|endoftext|>", "type_id": 0]]],
                               "special_tokens": ["<|endoftext|>": ["id": "<|endoftext|>", "ids": [300], "tokens": ["<|endoftext|>"]]]],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": [["Ġ", "Ġ"]]],
        ]
    }

    @Test func miniTokenizerLoads() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: Self.miniJSON()))
        #expect(tokenizer.encode("a   b") == [97, 256, 32, 98, 300])
        #expect(tokenizer.decode([97, 256, 32, 98, 300]) == "a   b<|endoftext|>")
        #expect(tokenizer.vocabularySize == 301)
    }

    /// Loads a mutated copy and returns the error message, or nil if it loaded.
    func loadError(_ mutate: (inout [String: Any]) -> Void) throws -> String? {
        var json = Self.miniJSON()
        mutate(&json)
        do {
            _ = try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json))
            return nil
        } catch let error as TokenizerError {
            return error.localizedDescription
        }
    }

    @Test func refusesComponentsItDoesNotImplement() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("WordPiece", { json in
                var model = json["model"] as! [String: Any]
                model["type"] = "WordPiece"
                json["model"] = model
            }),
            ("Unigram", { json in json["model"] = ["type": "Unigram", "vocab": []] }),
            ("NFKC", { json in json["normalizer"] = ["type": "NFKC"] }),
            ("Lowercase", { json in json["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]] }),
            ("RobertaProcessing", { json in json["post_processor"] = ["type": "RobertaProcessing"] }),
            ("Whitespace", { json in json["pre_tokenizer"] = ["type": "Whitespace"] }),
            ("Split pattern", { json in
                var pre = json["pre_tokenizer"] as! [String: Any]
                var steps = pre["pretokenizers"] as! [[String: Any]]
                steps[0]["pattern"] = ["Regex": #"\s+"#]
                pre["pretokenizers"] = steps
                json["pre_tokenizer"] = pre
            }),
            ("WordPiece", { json in json["decoder"] = ["type": "WordPiece"] }),
            ("lstrip", { json in
                var added = json["added_tokens"] as! [[String: Any]]
                added[0]["lstrip"] = true
                json["added_tokens"] = added
            }),
            ("dropout", { json in
                var model = json["model"] as! [String: Any]
                model["dropout"] = 0.1
                json["model"] = model
            }),
        ]
        for (name, mutate) in cases {
            let message = try loadError(mutate)
            #expect(message?.contains(name) == true, "\(name): \(message ?? "loaded")")
        }
    }

    @Test func acceptsEquivalentSpellings() throws {
        // Merges as "a b" strings (older files), a normalizer Sequence, and no post-processor.
        var json = try Self.realJSON()
        var model = json["model"] as! [String: Any]
        model["merges"] = (model["merges"] as! [[String]]).map { $0.joined(separator: " ") }
        json["model"] = model
        json["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"]]]
        json["post_processor"] = NSNull()
        let tokenizer = try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json))
        let reference = try Shared.embedding.get()
        let text = "Héllo wörld, it's 2026!\n\tcafe\u{301} 東京 <|im_start|>"
        #expect(tokenizer.encode(text) == reference.encode(text, addSpecialTokens: false))
        #expect(tokenizer.numberOfAddedSpecialTokens == 0)
    }

    @Test func templateProcessingIsGeneral() throws {
        // A prefix and a suffix, each possibly several ids.
        var json = try Self.realJSON()
        json["post_processor"] = [
            "type": "TemplateProcessing",
            "single": [
                ["SpecialToken": ["id": "<|im_start|>", "type_id": 0]],
                ["Sequence": ["id": "A", "type_id": 0]],
                ["SpecialToken": ["id": "END", "type_id": 0]],
            ],
            "pair": [],
            "special_tokens": [
                "<|im_start|>": ["id": "<|im_start|>", "ids": [151644], "tokens": ["<|im_start|>"]],
                "END": ["id": "END", "ids": [151645, 151643], "tokens": ["<|im_end|>", "<|endoftext|>"]],
            ],
        ]
        let tokenizer = try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json))
        #expect(tokenizer.numberOfAddedSpecialTokens == 3)
        #expect(tokenizer.encode("hello world foo") == [151644, 14990, 1879, 15229, 151645, 151643])
        #expect(tokenizer.encode("hello world foo", maxLength: 4) == [151644, 14990, 151645, 151643])
        #expect(tokenizer.encode("hello world foo", addSpecialTokens: false) == [14990, 1879, 15229])
    }

    @Test func malformedJSONNamesTheProblem() throws {
        func message(_ text: String) -> String {
            do {
                _ = try Tokenizer(tokenizerJSON: Data(text.utf8))
                return "loaded"
            } catch {
                return error.localizedDescription
            }
        }
        #expect(message("{not json").contains("invalid JSON at byte 1"))
        #expect(message("").contains("invalid JSON"))
        #expect(message("[]").contains("not a JSON object"))
        #expect(message(#"{"model": {"type": "BPE"}}"#).contains("model.vocab"))
        #expect(message(#"{"model": {"type": "BPE", "vocab": {"a": 0}}}"#).contains("model.merges"))
        #expect(message(#"{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}}"#).contains("model.vocab[\"a\"]"))
        #expect(message(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}}"#).contains("model.merges[0]"))
        #expect(message(#"{"model": {"type": "BPE", "vocab": {"a": 99999999999}, "merges": []}}"#).contains("model.vocab[\"a\"]"),
                "a huge id is an error, not a huge allocation")
        #expect(message(#"{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": null}"#).contains("pre_tokenizer"))
        #expect(message(String(repeating: "[", count: 10_000)).contains("nesting"), "deep nesting is an error, not a crash")
        #expect(message(#"{"a": "\ud800"}"#).contains("surrogate"))
    }

    @Test func missingAndBrokenFilesNameTheFile() throws {
        func message(_ directory: URL) -> String {
            do {
                _ = try Tokenizer.load(directory: directory)
                return "loaded"
            } catch {
                return error.localizedDescription
            }
        }
        #expect(message(try temporaryDirectory()).contains("tokenizer.json"))
        #expect(message(URL(fileURLWithPath: "/nonexistent/model")).contains("/nonexistent/model/tokenizer.json"))
        #expect(message(try temporaryDirectory(["vocab.json": #"{"a": 0}"#])).contains("merges.txt"))
        #expect(message(try temporaryDirectory(["vocab.json": #"{"a": 0}"#, "merges.txt": "#version: 0.2\na b c\n"]))
            .contains("merges.txt: line 2"))
        #expect(message(try temporaryDirectory(["vocab.json": "[1]", "merges.txt": ""])).contains("vocab.json"))
        #expect(message(try temporaryDirectory(["tokenizer.json": "\u{0}\u{1}garbage"])).contains("tokenizer.json"))
        // The byte-level alphabet must be complete.
        #expect(message(try temporaryDirectory(["vocab.json": #"{"a": 0}"#, "merges.txt": ""])).contains("byte-level token"))
        // A merge whose tokens are not in the vocabulary.
        let broken = try temporaryDirectory()
        for name in ["vocab.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: Paths.reranker.appendingPathComponent(name), to: broken.appendingPathComponent(name))
        }
        try Data("#version: 0.2\nĠ Ġ\nzzzq xxxq\n".utf8).write(to: broken.appendingPathComponent("merges.txt"))
        #expect(message(broken).contains("merge 1 \"zzzq xxxq\""))
        // A broken tokenizer_config.json is reported against that file.
        try Data("{".utf8).write(to: broken.appendingPathComponent("tokenizer_config.json"))
        try Data("#version: 0.2\n".utf8).write(to: broken.appendingPathComponent("merges.txt"))
        #expect(message(broken).contains("tokenizer_config.json"))
    }
}
