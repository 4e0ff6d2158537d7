import Foundation
import Testing
@testable import Tokenizer

/// `Tests/Fixtures/tokenizer/offsets.json` (written by `Scripts/make_offset_goldens.py`): ids and UTF-8
/// byte offsets from Hugging Face `tokenizers` for the corpus strings and some normalisation edge cases.
struct OffsetGoldens: Decodable {
    struct Entry: Decodable {
        let text: String
        let ids: [Int]
        /// `[start, end]` in UTF-8 bytes, nil for ids the post-processor added.
        let offsets: [[Int]?]
    }

    let tokenizers_version: String
    let entries: [Entry]

    static let shared = Result {
        try JSONDecoder().decode(
            OffsetGoldens.self,
            from: Data(contentsOf: Paths.packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer/offsets.json")))
    }
}

@Suite struct OffsetTests {
    @Test("Offsets equal Hugging Face's for every golden string; ids equal encode()'s")
    func goldens() throws {
        let goldens = try OffsetGoldens.shared.get()
        let tokenizer = try Shared.embedding.get()
        #expect(goldens.entries.count >= 300)
        var tokens = 0, mismatchedTokens = 0, mismatchedStrings = 0
        for entry in goldens.entries {
            let encoded = tokenizer.encodeWithOffsets(entry.text)
            #expect(encoded.map(\.id) == tokenizer.encode(entry.text), "ids differ from encode() for \(entry.text.debugDescription)")
            #expect(encoded.map(\.id) == entry.ids, "ids differ from Hugging Face for \(entry.text.debugDescription)")
            let ours = encoded.map { $0.utf8Offsets.map { [$0.lowerBound, $0.upperBound] } }
            tokens += entry.offsets.count
            let wrong = zip(ours, entry.offsets).filter { $0 != $1 }.count + abs(ours.count - entry.offsets.count)
            mismatchedTokens += wrong
            if wrong > 0 {
                mismatchedStrings += 1
                Issue.record("offsets differ for \(entry.text.debugDescription):\n  ours \(ours)\n  HF   \(entry.offsets)")
            }
        }
        print("offset parity: \(goldens.entries.count) strings, \(tokens) tokens, \(mismatchedTokens) tokens / \(mismatchedStrings) strings differ (tokenizers \(goldens.tokenizers_version))")
    }

    @Test("Offsets without special tokens, and from the reranker's vocab.json + merges.txt, are the same")
    func otherConfigurations() throws {
        let goldens = try OffsetGoldens.shared.get()
        let embedding = try Shared.embedding.get()
        let fallback = try Shared.rerankerFallback.get()
        for entry in goldens.entries {
            // The embedding tokenizer's only special token is the trailing <|endoftext|>.
            let expected = entry.offsets.last == .some(nil) ? Array(entry.offsets.dropLast()) : entry.offsets
            let plain = embedding.encodeWithOffsets(entry.text, addSpecialTokens: false)
            #expect(plain.map { $0.utf8Offsets.map { [$0.lowerBound, $0.upperBound] } } == expected, "\(entry.text.debugDescription)")
            let reranker = fallback.encodeWithOffsets(entry.text)
            #expect(reranker.map(\.id) == fallback.encode(entry.text), "\(entry.text.debugDescription)")
            #expect(reranker.map { $0.utf8Offsets.map { [$0.lowerBound, $0.upperBound] } } == expected, "\(entry.text.debugDescription)")
        }
    }

    @Test("Offsets cover whole characters, in order, with no gaps; split characters share a range")
    func spansCoverTheText() throws {
        let tokenizer = try Shared.embedding.get()
        let text = "Hello, world! <|im_start|>user\nnaïve café 東京 😀\n"
        let encoded = tokenizer.encodeWithOffsets(text)
        let bytes = Array(text.utf8)
        #expect(encoded.last?.utf8Offsets == nil)  // the post-processor's <|endoftext|>
        let ranges = encoded.compactMap(\.utf8Offsets)
        var covered = 0
        var reassembled = ""
        for range in ranges {
            // Each range is whole characters: its bytes decode to valid UTF-8 of the same length.
            #expect(String(decoding: bytes[range], as: UTF8.self).utf8.count == range.count)
            // Either it continues where the text covered so far ends, or it repeats the last character (a
            // character whose bytes are spread over several tokens).
            #expect(range.lowerBound == covered || range.upperBound == covered, "\(range) after \(covered)")
            if range.lowerBound == covered {
                reassembled += String(decoding: bytes[range], as: UTF8.self)
                covered = range.upperBound
            }
        }
        #expect(reassembled == text)
        #expect(ranges.contains { String(decoding: bytes[$0], as: UTF8.self) == "<|im_start|>" })
        // " 東" is two tokens (a space with part of the character's bytes, then the rest): both cover it.
        let east = text.utf8.count - "京 😀\n".utf8.count
        #expect(ranges.filter { $0.upperBound == east }.count == 2)
    }
}

/// A libFuzzer finding (tokenizer-json, 2026-12-03): a tokenizer.json whose vocabulary spells tokens with
/// more characters than the bytes they were merged from made `encodeWithOffsets` read past the text
/// (AddressSanitizer heap-buffer-overflow in `OffsetAlignment.original`). Offsets must stay inside the text.
@Suite struct OffsetOverrunRegressionTests {
    @Test("Offsets stay inside the text for a vocabulary whose spellings are longer than their bytes")
    func malformedSpellingsKeepOffsetsInside() throws {
        let file = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer/fuzz-offsets-overrun.json")
        let tokenizer = try Tokenizer(tokenizerJSON: Data(contentsOf: file))
        let text = "<|endoftext|>Hello, it's 2026!  caf\u{65}\u{301}\n\t東京 🙂 " + String(repeating: "abc", count: 120)
        let tokens = tokenizer.encodeWithOffsets(text)
        #expect(!tokens.isEmpty)
        for token in tokens {
            if let range = token.utf8Offsets {
                #expect(range.lowerBound >= 0 && range.upperBound <= text.utf8.count, "offsets \(range) outside \(text.utf8.count) bytes")
            }
        }
    }
}
