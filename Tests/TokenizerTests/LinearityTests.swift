import Foundation
import Testing
import TestSupport
@testable import Tokenizer

/// The whole encode path (added tokens, NFC, pre-tokenizer, BPE) does O(n log n) work or less for every
/// kind of input, including the ones that used to be quadratic: a letter followed by combining marks
/// took 4.2 s for 1 MB and 16.3 s for 1.9 MB, because Foundation's NFC sorts marks by insertion.
///
/// Proved two ways on inputs of n and 8n bytes: by counting the steps of every inner loop
/// (`WorkTally`, deterministic: quadratic work would multiply them by 64), and by timing, as a ratio
/// (a slow machine slows both sizes alike; the best of several runs filters out interruptions, and an
/// attempt is repeated before anything is reported, so a busy machine does not fail the test).
@Suite struct LinearityTests {
    /// Adversarial patterns, each a function of the wanted byte count.
    static let patterns: [(name: String, make: @Sendable (Int) -> String)] = [
        ("letter + combining acute (composes)", { repeated("e\u{301}", $0) }),
        ("letter + alternating marks (reordered)", { "a" + repeated("\u{301}\u{316}", $0 - 1) }),
        ("marks after a non-composing letter", { repeated("x\u{301}\u{316}", $0) }),
        ("Tibetan marks that decompose", { repeated("\u{f73}\u{f71}", $0) }),
        ("Hangul jamo (compose into syllables)", { repeated("\u{1100}\u{1161}\u{11a8}", $0) }),
        ("class-0 vowel signs that compose", { repeated("\u{bc6}\u{bbe}", $0) }),
        ("one long letter run", { repeated("abcdefghij", $0) }),
        ("one letter repeated", { repeated("a", $0) }),
        ("digits", { repeated("7", $0) }),
        ("spaces", { repeated(" ", $0) }),
        ("tabs and spaces before a word", { repeated(" \t", $0 - 1) + "x" }),
        ("mixed newlines", { repeated(" \n\r\t\u{85}", $0) }),
        ("newline then spaces", { repeated("\n" + String(repeating: " ", count: 61), $0) }),
        ("punctuation", { repeated("!?.,;", $0) }),
        ("apostrophes and contractions", { repeated("'s'", $0) }),
        ("CJK", { repeated("中文字", $0) }),
        ("emoji ZWJ sequences", { repeated("👨‍👩‍👧", $0) }),
        ("added-token prefixes", { repeated("<|im_<|endoftext", $0) }),
        ("random mix", { randomMix($0) }),
    ]

    static func repeated(_ unit: String, _ bytes: Int) -> String {
        String(repeating: unit, count: max(1, bytes / unit.utf8.count))
    }

    /// Text drawn from every kind of piece, seeded by the length so n and 8n differ but repeat across runs.
    static func randomMix(_ bytes: Int) -> String {
        let pool = ["the ", "cafe\u{301} ", "中文", "🙂", "  ", "\n", "12", "!!", "'ll ", "x\u{316}\u{301}", "Ж", "\u{1100}\u{1161}", "\t"]
        var generator = SeededGenerator(seed: UInt64(bytes))
        var text = ""
        while text.utf8.count < bytes { text += pool.randomElement(using: &generator)! }
        return text
    }

    @Test("Work counted in the encode loops grows linearly (n log n at most) for every pattern")
    func countedWork() throws {
        // A fresh tokenizer, so the piece cache holds nothing from other tests running in parallel.
        let tokenizer = try Tokenizer.load(directory: Paths.embedding)
        let n = 8 * 1024
        for pattern in Self.patterns {
            let small = pattern.make(n), large = pattern.make(8 * n)
            let smallSteps = Self.steps { _ = tokenizer.encode(small) }
            let largeSteps = Self.steps { _ = tokenizer.encode(large) }
            let ratio = Double(largeSteps) / Double(max(smallSteps, 1)) * Double(small.utf8.count) / Double(large.utf8.count) * 8
            // 8 for linear work, 8 × log(8n)/log(n) ≈ 9.9 for n log n; 64 for quadratic.
            #expect(ratio < 8 * 1.3, "\(pattern.name): \(smallSteps) steps for \(small.utf8.count) bytes, \(largeSteps) for \(large.utf8.count)")
            #expect(smallSteps > 0, "\(pattern.name): nothing counted")
            // And the constant is small: a bounded number of steps per byte (at most ~55 at this size,
            // for one 64 KB piece of spaces: heap moves, log2(n) per merge).
            #expect(largeSteps < 128 * large.utf8.count, "\(pattern.name): \(largeSteps) steps for \(large.utf8.count) bytes")
        }
    }

    @Test("Encode time grows linearly: time(8n) / time(n) stays far below quadratic's 64")
    func timedRatio() throws {
        let tokenizer = try Shared.embedding.get()
        // Large enough that per-call overheads and timer resolution are small against the work.
        let n = 16 * 1024
        for pattern in Self.patterns {
            let small = pattern.make(n), large = pattern.make(8 * n)
            let sizeRatio = Double(large.utf8.count) / Double(small.utf8.count)
            var ratios: [Double] = []
            // Up to four attempts, each the best of several runs per size: only an input that is slow
            // every time fails (a quadratic one gives ~64 on every attempt).
            for _ in 0..<4 {
                let smallTime = Self.bestTime(runs: 5) { _ = tokenizer.encode(small) }
                let largeTime = Self.bestTime(runs: 3) { _ = tokenizer.encode(large) }
                ratios.append(largeTime / max(smallTime, 1e-6) * 8 / sizeRatio)
                if ratios.last! < 8 * 2.5 { break }
            }
            #expect(ratios.last! < 8 * 2.5, "\(pattern.name): time(8n)/time(n) was \(ratios.map { String(format: "%.1f", $0) })")
        }
    }

    static func steps(_ body: () -> Void) -> Int {
        let counter = WorkCounter()
        WorkTally.$counter.withValue(counter) { body() }
        return counter.steps
    }

    static func bestTime(runs: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            let start = ContinuousClock.now
            body()
            best = min(best, (ContinuousClock.now - start) / .seconds(1))
        }
        return best
    }

    /// The heap merge used for long pieces and the scanning merge used for short ones agree on long and
    /// adversarial pieces too (ParityTests compares them on short random ones; both against HF).
    @Test("Heap and scanning merges agree on long and adversarial pieces")
    func mergeStrategiesAgreeOnLongPieces() throws {
        let tokenizer = try Shared.embedding.get()
        var generator = SeededGenerator(seed: 7)
        var pieces: [[UInt8]] = [
            Array(String(repeating: "a", count: 2_000).utf8),
            Array(String(repeating: "ab", count: 1_000).utf8),
            Array(String(repeating: "abcdefghij", count: 300).utf8),
            Array(String(repeating: "é", count: 700).utf8),
            Array(String(repeating: "中文", count: 300).utf8),
            Array(String(repeating: "\u{301}\u{316}", count: 500).utf8),
            Array(String(repeating: "!", count: 1_500).utf8),
            Array(String(repeating: " ", count: 1_500).utf8),
            Array(String(repeating: "👨‍👩‍👧", count: 100).utf8),
            (0..<3_000).map { _ in UInt8.random(in: 0...255, using: &generator) },
        ]
        // Random text from a small alphabet, where merges chain and compete the most.
        let alphabet = Array("aabbcdeeilnorst ĠéЖ东".utf8)
        for length in [300, 1_000, 2_000] {
            for _ in 0..<5 { pieces.append((0..<length).map { _ in alphabet.randomElement(using: &generator)! }) }
        }
        for piece in pieces {
            var heap: [Int] = []
            let scanned = piece.withUnsafeBufferPointer { buffer in
                tokenizer.model.mergeLong(buffer, into: &heap)
                return tokenizer.model.mergeShort(buffer).map(Int.init)
            }
            #expect(heap == scanned, "\(piece.count)-byte piece starting \(piece.prefix(12))")
        }
    }
}
