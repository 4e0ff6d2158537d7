import Foundation
import Testing
@testable import Tokenizer

/// Ids identical to Hugging Face `tokenizers` (0.23) for the Qwen3 tokenizer files.
@Suite struct ParityTests {
    /// llama.cpp's 46 qwen2 tokenizer vectors (produced with Hugging Face), without special tokens.
    @Test func llamaCppVectors() throws {
        let inputs = try String(contentsOf: Paths.shared.appendingPathComponent("ggml-vocab-qwen2.gguf.inp"), encoding: .utf8)
            .components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOf: Paths.shared.appendingPathComponent("ggml-vocab-qwen2.gguf.out"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        let tokenizer = try Shared.embedding.get()
        var checked = 0, matched = 0
        for (index, text) in inputs.enumerated() {
            // The file ends with a separator, leaving an empty last "input".
            if index == inputs.count - 1 && text.isEmpty { continue }
            let expected = outputs[index].split(separator: " ").map { Int($0)! }
            let actual = tokenizer.encode(text, addSpecialTokens: false)
            #expect(actual == expected, "vector \(index): \(text.debugDescription)")
            checked += 1
            if actual == expected { matched += 1 }
        }
        #expect(checked == 46)
        print("tokenizer parity: llama.cpp vectors \(matched)/\(checked) identical")
    }

    /// Every corpus string, every configuration: embedding (EOS appended), no special tokens, truncated
    /// to 8, reranker from tokenizer.json, reranker from vocab.json + merges.txt.
    @Test func corpusMatchesHuggingFace() throws {
        let corpus = try Shared.corpus.get()
        let embedding = try Shared.embedding.get()
        let reranker = try Shared.reranker.get()
        let fallback = try Shared.rerankerFallback.get()
        #expect(corpus.count >= 150)
        var comparisons = 0, mismatches = 0
        for entry in corpus {
            let text = entry.input
            let checks: [(String, [Int], [Int])] = [
                ("embedding", embedding.encode(text), entry.ids_embedding),
                ("no special tokens", embedding.encode(text, addSpecialTokens: false), entry.ids_no_special),
                ("truncated to 8", embedding.encode(text, maxLength: 8), entry.ids_truncated_8),
                ("reranker tokenizer.json", reranker.encode(text), entry.ids_reranker),
                ("reranker vocab.json + merges.txt", fallback.encode(text), entry.ids_reranker),
            ]
            for (name, actual, expected) in checks {
                comparisons += 1
                if actual != expected {
                    mismatches += 1
                    Issue.record("\(name) differs for \(text.debugDescription):\n  ours \(actual)\n  HF   \(expected)")
                }
            }
        }
        print("tokenizer parity: \(corpus.count) corpus strings, \(comparisons) id sequences, \(mismatches) mismatches")
    }

    /// Swift's `String(decoding:as:)` replaces invalid UTF-8 exactly as Python's
    /// `decode("utf-8", errors="replace")` does (one U+FFFD per maximal invalid subpart), so raw bytes
    /// read by Swift tokenize like the same bytes read by Python.
    @Test func invalidUTF8IsReplacedLikePython() throws {
        let entries = try Shared.corpus.get().filter { $0.bytes_b64 != nil }
        #expect(entries.count >= 10)
        for entry in entries {
            #expect(Array(entry.input.unicodeScalars) == Array(entry.decoded!.unicodeScalars), "\(entry.bytes_b64!)")
        }
    }

    @Test func decodeRoundTripsToNFC() throws {
        let tokenizer = try Shared.embedding.get()
        for entry in try Shared.corpus.get() {
            let text = entry.input
            let decoded = tokenizer.decode(tokenizer.encode(text, addSpecialTokens: false))
            let expected = Normalizer.nfc(text)
            // Compare scalars: Swift's String == would accept any canonically equivalent text.
            #expect(Array(decoded.unicodeScalars) == Array(expected.unicodeScalars), "\(text.debugDescription)")
        }
    }

    @Test func decodeHandlesSpecialAndUnknownIDs() throws {
        let tokenizer = try Shared.embedding.get()
        #expect(tokenizer.decode([9707, 1879, 151643]) == "Hello world<|endoftext|>")
        #expect(tokenizer.decode([9707, 1879, 151643], skipSpecialTokens: true) == "Hello world")
        // <tool_call> is an added token but not special: kept, as in tokenizers.
        #expect(tokenizer.decode([9707, 151657, 151643], skipSpecialTokens: true) == "Hello<tool_call>")
        #expect(tokenizer.decode([-1, 10_000_000, 9707, Int.max, Int.min]) == "Hello", "unknown ids are skipped")
        #expect(tokenizer.decode([]) == "")
        // A lone continuation byte's token decodes to U+FFFD rather than failing.
        let continuation = try #require(tokenizer.id(forToken: String(ByteLevel.scalarForByte[0x80])))
        #expect(tokenizer.decode([continuation]) == "\u{FFFD}")
    }

    @Test func truncationKeepsTheAppendedEOS() throws {
        let tokenizer = try Shared.embedding.get()
        let ids = tokenizer.encode(String(repeating: "word ", count: 50), maxLength: 4)
        #expect(ids.count == 4)
        #expect(ids.last == 151643)
        #expect(ids.dropLast() == tokenizer.encode(String(repeating: "word ", count: 50), addSpecialTokens: false).prefix(3))
        #expect(tokenizer.encode("hello world foo", maxLength: 1) == [151643])
        #expect(tokenizer.encode("hello world foo", maxLength: 0) == [151643], "documented: HF wraps around here")
        #expect(tokenizer.encode("hello world foo", addSpecialTokens: false, maxLength: 2).count == 2)
        #expect(tokenizer.encode("hello", maxLength: 100) == [14990, 151643])
        #expect(tokenizer.numberOfAddedSpecialTokens == 1)
        #expect(try Shared.reranker.get().numberOfAddedSpecialTokens == 0)
        #expect(try Shared.rerankerFallback.get().numberOfAddedSpecialTokens == 0)
        #expect(try Shared.reranker.get().encode("hello world foo", maxLength: 2) == [14990, 1879])
    }

    @Test func lookups() throws {
        for tokenizer in [try Shared.embedding.get(), try Shared.reranker.get(), try Shared.rerankerFallback.get()] {
            #expect(tokenizer.id(forToken: "yes") == 9693)
            #expect(tokenizer.id(forToken: "no") == 2152)
            #expect(tokenizer.id(forToken: "Ġthe") == 279)
            #expect(tokenizer.id(forToken: "<|endoftext|>") == 151643)
            #expect(tokenizer.id(forToken: "</think>") == 151668)
            #expect(tokenizer.id(forToken: "definitely not a token") == nil)
            #expect(tokenizer.token(forID: 151644) == "<|im_start|>")
            #expect(tokenizer.token(forID: 279) == "Ġthe")
            #expect(tokenizer.token(forID: -5) == nil)
            #expect(tokenizer.token(forID: 151669) == nil)
            #expect(tokenizer.vocabularySize == 151669)
        }
    }

    /// Long pieces take the heap-based merge, short ones the scanning merge: both must agree (the
    /// corpus checks both against Hugging Face as well).
    @Test func heapAndScanningMergesAgree() throws {
        let tokenizer = try Shared.embedding.get()
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz ĠéЖ东".utf8)
        for length in [2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 256] {
            for _ in 0..<50 {
                let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
                var heap: [Int] = []
                let scanned = bytes.withUnsafeBufferPointer { buffer in
                    tokenizer.model.mergeLong(buffer, into: &heap)
                    return tokenizer.model.mergeShort(buffer).map(Int.init)
                }
                #expect(heap == scanned, "\(bytes)")
            }
        }
        // A long single piece must not take quadratic time (ThroughputMeasurement times a megabyte).
        let word = String(repeating: "abcdefghij", count: 5_000)
        #expect(tokenizer.decode(tokenizer.encode(word, addSpecialTokens: false)) == word)
    }

    @Test func concurrentUseIsSafe() async throws {
        let tokenizer = try Shared.embedding.get()
        let corpus = try Shared.corpus.get()
        await withTaskGroup(of: Bool.self) { group in
            for offset in 0..<8 {
                group.addTask {
                    corpus.enumerated().filter { $0.offset % 8 == offset }
                        .allSatisfy { tokenizer.encode($0.element.input) == $0.element.ids_embedding }
                }
            }
            for await result in group { #expect(result) }
        }
    }
}
