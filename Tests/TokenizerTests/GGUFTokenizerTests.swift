import Foundation
import ModelFormats
import Testing
@testable import Tokenizer

/// The Qwen3-Embedding tokenizer as llama.cpp's converter stores it in GGUF metadata
/// (Tests/Fixtures/gguf/qwen3-embedding-tokenizer.gguf, written by Scripts/make_gguf_reader_fixtures.py
/// with the converter's rules and checked against the converter's own output).
enum GGUFShared {
    static let path = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/gguf/qwen3-embedding-tokenizer.gguf").path

    static let metadata = Result { try GGUFFile(path: path).tokenizerMetadata() }

    /// Built as a model loader would: everything from the file.
    static let tokenizer = Result { () throws -> Tokenizer in
        try make(metadata.get(), addEOS: nil)
    }

    static func make(_ m: GGUFTokenizerMetadata, addEOS: Bool?, path: String = path) throws -> Tokenizer {
        try Tokenizer(
            ggufTokens: m.tokens, tokenTypes: m.tokenTypes, merges: m.merges, eosTokenID: m.eosTokenID,
            paddingTokenID: m.paddingTokenID, bosTokenID: m.bosTokenID, addBOS: m.addBOS, addEOS: addEOS ?? m.addEOS,
            preTokenizer: m.preTokenizer, model: m.model, path: path)
    }
}

@Suite struct GGUFTokenizerTests {
    @Test func metadataIsWhatTheConverterWrites() throws {
        let m = try GGUFShared.metadata.get()
        #expect(m.model == "gpt2" && m.preTokenizer == "qwen2")
        #expect(m.tokens.count == 151669 && m.tokenTypes.count == 151669 && m.merges.count == 151387)
        #expect(m.eosTokenID == 151643 && m.paddingTokenID == 151643 && m.bosTokenID == 151643)
        #expect(m.addEOS && !m.addBOS)
        #expect(m.tokens[151643] == "<|endoftext|>" && m.tokenTypes[151643] == 3)
        #expect(m.tokens[151657] == "<tool_call>" && m.tokenTypes[151657] == 4)
        #expect(m.tokens[151668] == "</think>" && m.tokenTypes[151668] == 4)
        #expect(m.tokenTypes.filter { $0 == 1 }.count == 151643)
        #expect(m.merges.first == "Ġ Ġ")
    }

    /// Same ids as Hugging Face `tokenizers` with tokenizer.json, on the whole corpus (invalid UTF-8
    /// inputs included): with EOS, without special tokens, truncated.
    @Test func corpusMatchesTokenizerJSON() throws {
        let corpus = try Shared.corpus.get()
        let gguf = try GGUFShared.tokenizer.get()
        var comparisons = 0, mismatches = 0
        for entry in corpus {
            let text = entry.input
            let checks: [(String, [Int], [Int])] = [
                ("embedding", gguf.encode(text), entry.ids_embedding),
                ("no special tokens", gguf.encode(text, addSpecialTokens: false), entry.ids_no_special),
                ("truncated to 8", gguf.encode(text, maxLength: 8), entry.ids_truncated_8),
            ]
            for (name, actual, expected) in checks {
                comparisons += 1
                if actual != expected {
                    mismatches += 1
                    Issue.record("GGUF \(name) differs for \(text.debugDescription):\n  ours \(actual)\n  HF   \(expected)")
                }
            }
        }
        #expect(corpus.count >= 150 && corpus.contains { $0.bytes_b64 != nil })
        print("GGUF tokenizer parity: \(corpus.count) corpus strings, \(comparisons) id sequences, \(mismatches) mismatches")
    }

    @Test func llamaCppVectors() throws {
        let inputs = try String(contentsOf: Paths.shared.appendingPathComponent("ggml-vocab-qwen2.gguf.inp"), encoding: .utf8)
            .components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOf: Paths.shared.appendingPathComponent("ggml-vocab-qwen2.gguf.out"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        let tokenizer = try GGUFShared.tokenizer.get()
        var checked = 0
        for (index, text) in inputs.enumerated() where !(index == inputs.count - 1 && text.isEmpty) {
            let expected = outputs[index].split(separator: " ").map { Int($0)! }
            #expect(tokenizer.encode(text, addSpecialTokens: false) == expected, "vector \(index): \(text.debugDescription)")
            checked += 1
        }
        #expect(checked == 46)
    }

    /// Lookups, decoding and sizes agree with the tokenizer.json tokenizer for every id.
    @Test func tablesMatchTokenizerJSON() throws {
        let gguf = try GGUFShared.tokenizer.get()
        let json = try Shared.embedding.get()
        #expect(gguf.vocabularySize == json.vocabularySize)
        #expect(gguf.numberOfAddedSpecialTokens == 1)
        for id in -1...(json.vocabularySize) where gguf.token(forID: id) != json.token(forID: id) {
            Issue.record("id \(id): \(String(describing: gguf.token(forID: id))) vs \(String(describing: json.token(forID: id)))")
        }
        let ids = [9707, 151657, 1879, 151643, 151644, 151668]
        #expect(gguf.decode(ids) == json.decode(ids))
        #expect(gguf.decode(ids, skipSpecialTokens: true) == json.decode(ids, skipSpecialTokens: true))
        #expect(gguf.decode(ids, skipSpecialTokens: true) == "Hello<tool_call> world</think>")
        #expect(gguf.id(forToken: "<|im_start|>") == 151644 && gguf.id(forToken: "Ġthe") == 279)
    }

    /// Qwen3-Embedding GGUFs whose add_eos_token is false still need EOS (llama.cpp issue #14252): the
    /// caller forces it, and gets the tokenizer.json behaviour.
    @Test func eosForcedByTheCaller() throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GGUFShared.path)))
        let key = Array("tokenizer.ggml.add_eos_token".utf8)
        let keyStart = try #require((0..<(bytes.count - key.count)).first { bytes[$0..<($0 + key.count)].elementsEqual(key) })
        let valueAt = keyStart + key.count + 4  // after the BOOL type tag
        #expect(bytes[valueAt - 4] == 7 && bytes[valueAt] == 1)
        bytes[valueAt] = 0
        let patched = FileManager.default.temporaryDirectory.appendingPathComponent("no-eos-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: patched)
        defer { try? FileManager.default.removeItem(at: patched) }
        let metadata = try GGUFFile(path: patched.path).tokenizerMetadata()
        #expect(!metadata.addEOS)

        let asFiled = try GGUFShared.make(metadata, addEOS: nil)
        let forced = try GGUFShared.make(metadata, addEOS: true)
        #expect(asFiled.numberOfAddedSpecialTokens == 0 && forced.numberOfAddedSpecialTokens == 1)
        for entry in try Shared.corpus.get() {
            #expect(forced.encode(entry.input) == entry.ids_embedding)
            #expect(forced.encode(entry.input, maxLength: 8) == entry.ids_truncated_8)
            #expect(asFiled.encode(entry.input) == entry.ids_no_special)
        }
    }

    /// Metadata this tokenizer cannot reproduce, or that is inconsistent, is refused with a message.
    @Test func refusesUnsupportedOrInconsistentMetadata() throws {
        // A miniature vocabulary: the 256 byte tokens, "ĠĠ" (one merge), two added tokens, one filler.
        let bytes = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        let tokens = bytes + ["ĠĠ", "<|endoftext|>", "<think>", "[PAD259]"]
        let types = [Int](repeating: 1, count: 257) + [3, 4, 5]
        func build(tokens: [String] = tokens, types: [Int] = types, merges: [String] = ["Ġ Ġ"], eos: Int? = 257, bos: Int? = nil,
                   addBOS: Bool = false, addEOS: Bool = true, pre: String = "qwen2", model: String = "gpt2") throws -> Tokenizer {
            try Tokenizer(ggufTokens: tokens, tokenTypes: types, merges: merges, eosTokenID: eos, paddingTokenID: nil, bosTokenID: bos,
                          addBOS: addBOS, addEOS: addEOS, preTokenizer: pre, model: model, path: "mini.gguf")
        }
        let mini = try build()
        #expect(mini.encode("a   b<think>") == [97, 256, 32, 98, 258, 257])
        #expect(mini.decode([97, 258, 257, 259], skipSpecialTokens: true) == "a<think>", "fillers decode to nothing")
        #expect(mini.token(forID: 259) == nil && mini.vocabularySize == 259)
        #expect(try build(bos: 257, addBOS: true, addEOS: false).encode("a") == [257, 97])
        #expect(try build(types: []).encode("<think>").count > 2, "no types: all NORMAL, so no added tokens")

        let cases: [(String, () throws -> Tokenizer, String)] = [
            ("llama model", { try build(model: "llama") }, "unsupported tokenizer model in mini.gguf: tokenizer.ggml.model \"llama\""),
            ("other pre-tokenizer", { try build(pre: "llama3") }, "tokenizer.ggml.pre \"llama3\" (only \"qwen2\""),
            ("missing pre-tokenizer", { try build(pre: "") }, "tokenizer.ggml.pre \"\""),
            ("type count", { try build(types: [1, 1]) }, "has 2 entries for 260 tokens"),
            ("unknown type", { try build(types: Array(types.dropLast()) + [7]) }, "tokenizer.ggml.token_type[259] is 7"),
            ("bad merge", { try build(merges: ["ĠĠ"]) }, "tokenizer.ggml.merges[0] is not \"a b\""),
            ("merge of unknown tokens", { try build(merges: ["Ġ ĠĠĠ"]) }, "merge 0 \"Ġ ĠĠĠ\" uses a token missing"),
            ("eos out of range", { try build(eos: 260) }, "tokenizer.ggml.eos_token_id 260 is not an id of the 260 tokens"),
            ("eos missing", { try build(eos: nil) }, "EOS is to be added but tokenizer.ggml.eos_token_id is missing"),
            ("bos missing", { try build(addBOS: true) }, "BOS is to be added but tokenizer.ggml.bos_token_id is missing"),
            ("no tokens", { try build(tokens: [], types: []) }, "tokenizer.ggml.tokens has 0 entries"),
            ("missing byte token", { try build(tokens: ["x"] + tokens.dropFirst(), merges: []) }, "lacks the byte-level token"),
        ]
        for (name, make, fragment) in cases {
            do {
                _ = try make()
                Issue.record("\(name): accepted")
            } catch let error as TokenizerError {
                #expect(error.localizedDescription.contains(fragment), "\(name): \(error.localizedDescription)")
                #expect(error.localizedDescription.contains("mini.gguf"), "\(name)")
            }
        }
    }

    /// llama.cpp's own vocab-only file for Qwen2 (models/ggml-vocab-qwen2.gguf in a llama.cpp checkout),
    /// when one is available: set LLAMA_CPP_DIR. Its test vectors are the ones checked above.
    @Test(.enabled(if: GGUFTokenizerTests.llamaCppVocabulary != nil))
    func llamaCppVocabularyFile() throws {
        let path = try #require(Self.llamaCppVocabulary)
        let metadata = try GGUFFile(path: path).tokenizerMetadata()
        let tokenizer = try GGUFShared.make(metadata, addEOS: false, path: path)
        let inputs = try String(contentsOfFile: path + ".inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOfFile: path + ".out", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var checked = 0
        for (index, text) in inputs.enumerated() where !(index == inputs.count - 1 && text.isEmpty) {
            #expect(tokenizer.encode(text, addSpecialTokens: false) == outputs[index].split(separator: " ").map { Int($0)! }, "\(index)")
            checked += 1
        }
        #expect(checked == 46)
    }

    static let llamaCppVocabulary: String? = {
        guard let directory = ProcessInfo.processInfo.environment["LLAMA_CPP_DIR"] else { return nil }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("models/ggml-vocab-qwen2.gguf").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()
}
