import Foundation
import Testing
@testable import Tokenizer

/// `Tests/Fixtures/tokenizer/nfc.json` (written by `Scripts/nfc_corpus.py`): what Hugging Face
/// `tokenizers` does to every Unicode scalar and to random strings of combining marks, composable
/// characters, Hangul jamo and ordinary text — NFC, ids and UTF-8 offsets.
struct NormalizationGoldens: Decodable {
    struct Entry: Decodable {
        let text: String
        let nfc: String
        let ids: [Int]
        let offsets: [[Int]]
    }

    let tokenizers_version: String
    /// `[scalar, [NFC scalars]]` for every scalar whose NFC is not itself.
    let changed_scalars: [[ChangedScalar]]
    let strings: [Entry]

    /// One element of a `changed_scalars` pair: the scalar or its NFC.
    enum ChangedScalar: Decodable {
        case scalar(UInt32)
        case normalized([UInt32])

        init(from decoder: any Swift.Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(UInt32.self) {
                self = .scalar(value)
            } else {
                self = .normalized(try container.decode([UInt32].self))
            }
        }
    }

    static let shared = Result {
        try JSONDecoder().decode(
            NormalizationGoldens.self,
            from: Data(contentsOf: Paths.packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer/nfc.json")))
    }
}

@Suite struct NormalizationParityTests {
    @Test("NFC of every Unicode scalar equals Hugging Face's (Unicode 9.0 tables, Dives Akuru)")
    func everyScalar() throws {
        let goldens = try NormalizationGoldens.shared.get()
        var expected: [UInt32: [UInt32]] = [:]
        for pair in goldens.changed_scalars {
            guard pair.count == 2, case .scalar(let scalar) = pair[0], case .normalized(let nfc) = pair[1] else {
                Issue.record("malformed changed_scalars entry")
                return
            }
            expected[scalar] = nfc
        }
        #expect(expected.count > 1000)
        var mismatches = 0
        for value in UInt32(0)..<0x110000 {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let ours = Normalizer.nfc(String(scalar)).unicodeScalars.map(\.value)
            if ours != expected[value, default: [value]] {
                mismatches += 1
                if mismatches <= 10 { Issue.record("U+\(String(value, radix: 16, uppercase: true)): ours \(ours), HF \(expected[value, default: [value]])") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("NFC, ids and offsets of random mark-heavy strings equal Hugging Face's")
    func randomStrings() throws {
        let goldens = try NormalizationGoldens.shared.get()
        let tokenizer = try Shared.embedding.get()
        #expect(goldens.strings.count >= 1000)
        for entry in goldens.strings {
            let scalars = entry.text.unicodeScalars.map { String($0.value, radix: 16) }
            // Scalars, not `==`: String equality is canonical equivalence, under which NFC changes nothing.
            #expect(Normalizer.nfc(entry.text).unicodeScalars.elementsEqual(entry.nfc.unicodeScalars), "NFC of \(scalars)")
            #expect(tokenizer.encode(entry.text, addSpecialTokens: false) == entry.ids, "ids of \(scalars)")
            let withOffsets = tokenizer.encodeWithOffsets(entry.text, addSpecialTokens: false)
            #expect(withOffsets.map(\.id) == entry.ids, "offset ids of \(scalars)")
            #expect(withOffsets.map { $0.utf8Offsets.map { [$0.lowerBound, $0.upperBound] } ?? [] } == entry.offsets,
                    "offsets of \(scalars)")
        }
    }

    /// Long runs of the patterns that used to be quadratic, checked against an independent oracle:
    /// each pattern's NFC is computed on the short string by HF, and long runs are built so that their
    /// NFC is known from it (a pattern that starts with a starter and cannot compose across the joint
    /// repeats; a single starter followed by many marks has a closed form).
    @Test("NFC of long adversarial runs is right and as the short runs predict")
    func longRuns() throws {
        // "e" U+0301 composes to é, so the NFC of the repetition is é repeated.
        let accents = String(repeating: "e\u{301}", count: 20_000)
        #expect(Normalizer.nfc(accents).unicodeScalars.elementsEqual(String(repeating: "\u{e9}", count: 20_000).unicodeScalars))
        // "a" and alternating marks of classes 230 and 220: the marks sort stably (all 220s first, in
        // order, then all 230s), and the first 230 (U+0301) composes with a → á.
        let marks = "a" + String(repeating: "\u{301}\u{316}", count: 20_000)
        let expected = "\u{e1}" + String(repeating: "\u{316}", count: 20_000) + String(repeating: "\u{301}", count: 19_999)
        #expect(Normalizer.nfc(marks).unicodeScalars.elementsEqual(expected.unicodeScalars))
        // Tibetan U+0F73 decomposes into two marks (classes 129, 130); with U+0F71 (129) between copies
        // the 129s must all move before the 130s.
        let tibetan = String(repeating: "\u{f73}\u{f71}", count: 10_000)
        let sortedTibetan = String(repeating: "\u{f71}", count: 20_000) + String(repeating: "\u{f72}", count: 10_000)
        #expect(Normalizer.nfc(tibetan).unicodeScalars.elementsEqual(sortedTibetan.unicodeScalars))
        // U+1DF6 (class 232, but Unicode 10) is a starter for tokenizers: nothing moves across it.
        let late = "x" + String(repeating: "\u{1df6}\u{316}", count: 10_000)
        #expect(Normalizer.nfc(late).unicodeScalars.elementsEqual(late.unicodeScalars))
        // Hangul jamo L V T compose algorithmically into syllables.
        let jamo = String(repeating: "\u{1100}\u{1161}\u{11a8}", count: 10_000)
        #expect(Normalizer.nfc(jamo).unicodeScalars.elementsEqual(String(repeating: "\u{ac01}", count: 10_000).unicodeScalars))
    }
}
