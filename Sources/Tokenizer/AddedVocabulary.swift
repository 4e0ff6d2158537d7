/// Added tokens (`<|endoftext|>`, `<|im_start|>`, `<think>`, …): found in the text before the
/// pre-tokenizer runs and never split, whether or not special tokens are being added.
///
/// As in `tokenizers`' `AddedVocabulary`, tokens with `normalized: false` (all of Qwen's) are matched in
/// the raw text, and tokens with `normalized: true` in each remaining run after normalisation (against
/// their normalised spelling). Matching is leftmost-longest, like the Aho-Corasick `LeftmostLongest`
/// matcher there: at the earliest position where any token starts, the longest one wins.
struct AddedVocabulary: Sendable {
    /// One added token, as declared in `added_tokens` (or `added_tokens_decoder`).
    struct Token: Sendable, Equatable {
        let content: String
        let id: Int
        let special: Bool
        let normalized: Bool
    }

    let tokens: [Token]
    /// Matcher for the tokens found in the raw text.
    let raw: AddedTokenMatcher
    /// Matcher for the tokens found after normalisation; nil when there are none (the usual case).
    let normalized: AddedTokenMatcher?

    /// - Parameter normalize: the tokenizer's normaliser, applied to the spelling of `normalized` tokens.
    init(tokens: [Token], normalize: (String) -> String) {
        self.tokens = tokens
        raw = AddedTokenMatcher(tokens.filter { !$0.normalized }.map { (Array($0.content.utf8), $0.id) })
        let normalizedTokens = tokens.filter(\.normalized)
        normalized = normalizedTokens.isEmpty
            ? nil : AddedTokenMatcher(normalizedTokens.map { (Array(normalize($0.content).utf8), $0.id) })
    }
}

/// A run of text: ordinary bytes, or an added token.
enum AddedTokenSegment {
    case text(Range<Int>)
    case token(Int)
}

/// Leftmost-longest matching of a set of byte strings.
///
/// Added vocabularies are small (tens of tokens) and nearly always start with `<`, so a first-byte
/// filter followed by direct comparison, longest candidate first, is simpler than Aho-Corasick and
/// just as fast on real text, where the filter rejects almost every byte.
struct AddedTokenMatcher: Sendable {
    /// Candidates by first byte, longest first.
    private let candidates: [[(bytes: [UInt8], id: Int)]]
    private let isEmpty: Bool

    init(_ tokens: [([UInt8], Int)]) {
        var candidates = [[(bytes: [UInt8], id: Int)]](repeating: [], count: 256)
        for (bytes, id) in tokens where !bytes.isEmpty {
            candidates[Int(bytes[0])].append((bytes, id))
        }
        for index in candidates.indices {
            // Stable on equal lengths: with duplicate spellings the first declared token wins.
            candidates[index] = candidates[index].enumerated()
                .sorted { ($0.element.bytes.count, -$0.offset) > ($1.element.bytes.count, -$1.offset) }
                .map(\.element)
        }
        self.candidates = candidates
        isEmpty = tokens.allSatisfy { $0.0.isEmpty }
    }

    /// Splits `utf8` into ordinary runs and added tokens, calling `body` with each in order (empty
    /// runs are skipped).
    func split(_ utf8: UnsafeBufferPointer<UInt8>, _ body: (AddedTokenSegment) -> Void) {
        let count = utf8.count
        if isEmpty {
            if count > 0 { body(.text(0..<count)) }
            return
        }
        var runStart = 0
        var index = 0
        // Each position compares at most every candidate's bytes: bounded by the added vocabulary, not
        // by the text. The tally counts positions and candidates tried.
        var tally = WorkTally()
        defer { tally.flush() }
        while index < count {
            let options = candidates[Int(utf8[index])]
            tally.count(1 + options.count)
            if !options.isEmpty, let match = options.first(where: { matches($0.bytes, utf8, at: index) }) {
                // Token spellings are whole UTF-8 sequences, so both ends are scalar boundaries.
                if runStart < index { body(.text(runStart..<index)) }
                body(.token(match.id))
                index += match.bytes.count
                runStart = index
            } else {
                index += 1
            }
        }
        if runStart < count { body(.text(runStart..<count)) }
    }

    @inline(__always)
    private func matches(_ token: [UInt8], _ utf8: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        guard index + token.count <= utf8.count else { return false }
        for offset in 1..<token.count where utf8[index + offset] != token[offset] { return false }
        return true
    }
}
