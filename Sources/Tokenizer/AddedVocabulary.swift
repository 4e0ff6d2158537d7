/// Added tokens (`<|endoftext|>`, `<|im_start|>`, `<think>`, …): found in the raw text before anything
/// else happens and never split.
///
/// Matching is leftmost-longest, like the Aho-Corasick `LeftmostLongest` matcher of Hugging Face
/// `tokenizers`: at the earliest position where any added token starts, the longest one wins.
struct AddedVocabulary: Sendable {
    /// One added token.
    struct Token: Sendable, Equatable {
        let content: String
        let id: Int
        let special: Bool
        let normalized: Bool
    }

    /// A run of the input: ordinary text, or a matched added token.
    enum Segment: Equatable {
        case text(Substring)
        case added(Int)
    }

    private let tokensByID: [Int: Token]
    /// Token UTF-8 spellings grouped by first byte, longest first.
    private let candidatesByFirstByte: [UInt8: [(bytes: [UInt8], id: Int)]]

    init(tokens: [Token]) {
        var byID: [Int: Token] = [:]
        var byFirstByte: [UInt8: [(bytes: [UInt8], id: Int)]] = [:]
        for token in tokens where !token.content.isEmpty {
            byID[token.id] = token
            let bytes = Array(token.content.utf8)
            byFirstByte[bytes[0], default: []].append((bytes, token.id))
        }
        for key in byFirstByte.keys { byFirstByte[key]!.sort { $0.bytes.count > $1.bytes.count } }
        tokensByID = byID
        candidatesByFirstByte = byFirstByte
    }

    /// The added token with this id, if any.
    func token(forID id: Int) -> Token? { tokensByID[id] }

    /// Splits `text` into ordinary runs and added tokens, in order.
    func split(_ text: String) -> [Segment] {
        if candidatesByFirstByte.isEmpty { return text.isEmpty ? [] : [.text(text[...])] }
        var segments: [Segment] = []
        let utf8 = text.utf8
        var runStart = utf8.startIndex
        var index = utf8.startIndex
        while index < utf8.endIndex {
            if let candidates = candidatesByFirstByte[utf8[index]],
               let match = candidates.first(where: { utf8[index...].starts(with: $0.bytes) }) {
                // Token spellings are whole UTF-8 sequences, so these indices are scalar boundaries.
                if runStart < index { segments.append(.text(text[runStart..<index])) }
                segments.append(.added(match.id))
                index = utf8.index(index, offsetBy: match.bytes.count)
                runStart = index
            } else {
                index = utf8.index(after: index)
            }
        }
        if runStart < utf8.endIndex { segments.append(.text(text[runStart..<utf8.endIndex])) }
        return segments
    }
}
