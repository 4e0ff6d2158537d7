import Foundation

/// A token id together with the part of the input text it was made from.
public struct TokenWithOffsets: Sendable, Hashable {
    /// The token id.
    public var id: Int
    /// The token's `[start, end)` in the UTF-8 bytes of the input text, or nil for the ids the
    /// post-processor adds (Qwen3-Embedding's trailing `<|endoftext|>`), which stand for no text.
    public var utf8Offsets: Range<Int>?

    /// A token with its offsets.
    public init(id: Int, utf8Offsets: Range<Int>?) {
        self.id = id
        self.utf8Offsets = utf8Offsets
    }
}

extension Tokenizer {
    /// The ids of `text` — the same as `encode(text, addSpecialTokens:)` — each with the byte range of
    /// `text` it comes from, as Hugging Face `tokenizers` reports offsets (in bytes, as its Rust API and
    /// TEI do; its Python API converts them to character counts):
    ///
    /// - A token holding only some of a character's UTF-8 bytes (byte-level BPE splits characters that
    ///   have no token of their own) covers the whole character, so neighbouring tokens may share a range.
    /// - Where NFC changed the text, offsets refer to the original: a composed character covers the first
    ///   of the characters it was made from (`é` from `e` U+0301 covers only the `e`), and the pieces of a
    ///   character NFC expands all cover that character.
    /// - An added token written in the text (`<|im_start|>`) covers its spelling.
    ///
    /// Slower than `encode`, which does no position bookkeeping; meant for APIs that show tokens (TEI's
    /// `/tokenize`), not for the inference path.
    public func encodeWithOffsets(_ text: String, addSpecialTokens: Bool = true) -> [TokenWithOffsets] {
        let added = addSpecialTokens ? postProcessor : PostProcessor.empty
        var tokens = added.prefix.map { TokenWithOffsets(id: $0, utf8Offsets: nil) }
        var text = text
        text.withUTF8 { utf8 in
            // Runs and added tokens are contiguous, so each token starts where the previous segment ended.
            var position = 0
            addedVocabulary.raw.split(utf8) { segment in
                switch segment {
                case .token(let id):
                    let end = position + addedTokenLength(id, normalized: false)
                    tokens.append(TokenWithOffsets(id: id, utf8Offsets: position..<end))
                    position = end
                case .text(let range):
                    appendTextWithOffsets(UnsafeBufferPointer(rebasing: utf8[range]), at: range.lowerBound, to: &tokens)
                    position = range.upperBound
                }
            }
        }
        tokens += added.suffix.map { TokenWithOffsets(id: $0, utf8Offsets: nil) }
        return tokens
    }

    /// The number of bytes an added token matched: its spelling, normalised for `normalized` tokens.
    private func addedTokenLength(_ id: Int, normalized: Bool) -> Int {
        guard let token = addedVocabulary.tokens.first(where: { $0.id == id && $0.normalized == normalized }) else { return 0 }
        return normalized ? normalizer.apply(token.content).utf8.count : token.content.utf8.count
    }

    /// Text between raw-matched added tokens, at byte `base` of the input: the steps of `encodeText`,
    /// keeping track of where each token's bytes came from.
    private func appendTextWithOffsets(_ utf8: UnsafeBufferPointer<UInt8>, at base: Int, to tokens: inout [TokenWithOffsets]) {
        if normalizer == .none || Normalizer.isASCII(utf8) {
            appendNormalizedWithOffsets(utf8, alignment: OffsetAlignment(unchangedAt: base), to: &tokens)
            return
        }
        var normalized = normalizer.apply(String(decoding: utf8, as: UTF8.self))
        let alignment = normalized.utf8.elementsEqual(utf8)
            ? OffsetAlignment(unchangedAt: base)
            : OffsetAlignment(original: utf8, at: base, normalized: normalized)
        normalized.withUTF8 { appendNormalizedWithOffsets($0, alignment: alignment, to: &tokens) }
    }

    private func appendNormalizedWithOffsets(
        _ utf8: UnsafeBufferPointer<UInt8>, alignment: OffsetAlignment, to tokens: inout [TokenWithOffsets]
    ) {
        guard let matcher = addedVocabulary.normalized else {
            appendPiecesWithOffsets(utf8, range: 0..<utf8.count, alignment: alignment, to: &tokens)
            return
        }
        var position = 0
        matcher.split(utf8) { segment in
            switch segment {
            case .token(let id):
                let end = position + addedTokenLength(id, normalized: true)
                tokens.append(TokenWithOffsets(id: id, utf8Offsets: alignment.original(position..<end, in: utf8)))
                position = end
            case .text(let range):
                appendPiecesWithOffsets(utf8, range: range, alignment: alignment, to: &tokens)
                position = range.upperBound
            }
        }
    }

    /// Pre-tokenizes and BPE-encodes `utf8[range]`; each token's bytes are the byte-level bytes of its
    /// spelling, laid end to end over the piece.
    private func appendPiecesWithOffsets(
        _ utf8: UnsafeBufferPointer<UInt8>, range: Range<Int>, alignment: OffsetAlignment, to tokens: inout [TokenWithOffsets]
    ) {
        let run = UnsafeBufferPointer(rebasing: utf8[range])
        var ids: [Int] = []
        preTokenizer.split(run) { piece in
            ids.removeAll(keepingCapacity: true)
            model.encode(UnsafeBufferPointer(rebasing: run[piece]), into: &ids)
            var start = range.lowerBound + piece.lowerBound
            for id in ids {
                // A byte-level spelling has one character per byte.
                let length = token(forID: id)?.unicodeScalars.count ?? 0
                tokens.append(TokenWithOffsets(id: id, utf8Offsets: alignment.original(start..<start + length, in: utf8)))
                start += length
            }
        }
    }
}

/// Maps byte ranges of normalised text back to the original input, as `tokenizers`' `NormalizedString`
/// alignments do.
struct OffsetAlignment {
    /// Input offset of the normalised text's first byte.
    private let base: Int
    /// For each normalised byte, the input range it stands for; empty when normalisation changed nothing
    /// (then bytes map to themselves, shifted by `base`).
    private let origins: [Range<Int>]

    /// The text was not changed by normalisation.
    init(unchangedAt base: Int) {
        self.base = base
        origins = []
    }

    /// The input `range` a token made of the normalised bytes `range` covers: from the start of the
    /// character holding its first byte to the end of the character holding its last.
    func original(_ range: Range<Int>, in normalized: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        // A vocabulary whose spellings are not byte-level strings (a malformed tokenizer.json) can give a
        // token more characters than the bytes it came from: keep the range inside the text.
        let limit = origins.isEmpty ? normalized.count : origins.count
        let range = min(range.lowerBound, limit)..<min(range.upperBound, limit)
        guard !range.isEmpty else { return base + range.lowerBound..<base + range.lowerBound }
        guard origins.isEmpty else {
            let first = origins[range.lowerBound], last = origins[range.upperBound - 1]
            return min(first.lowerBound, last.lowerBound)..<max(first.upperBound, last.upperBound)
        }
        var start = range.lowerBound
        while start > 0 && normalized[start] & 0xC0 == 0x80 { start -= 1 }  // back to a lead byte
        var end = range.upperBound
        while end < normalized.count && normalized[end] & 0xC0 == 0x80 { end += 1 }
        return base + start..<base + end
    }

    /// Alignment of `normalized`, the NFC form of `original` (bytes of the input from `base`).
    ///
    /// `tokenizers` records NFC as a stream of characters, each replacing the next original character
    /// (change 0), replacing it and swallowing `k` more (change −k: a composition), or inserted after the
    /// previous one (change +1: the extra characters of a decomposition), and aligns each character with
    /// the original character it replaces, or with its predecessor's when inserted. `CanonicalComposition`
    /// produces that stream along with the normalised text (in O(n log n), like the text itself).
    init(original: UnsafeBufferPointer<UInt8>, at base: Int, normalized: String) {
        self.base = base
        let characters = Self.scalars(of: original)
        guard !characters.isEmpty else {
            origins = []
            return
        }
        let stream = CanonicalComposition.normalize(characters.lazy.map(\.scalar))
        var origins: [Range<Int>] = []
        origins.reserveCapacity(normalized.utf8.count)
        var output = String.UnicodeScalarView()
        // Index of the next original character to replace. A replacing character aligns with that one; an
        // inserted one with the last original character consumed so far — after a composition that is
        // the last character it swallowed (as `NormalizedString::transform` looks one byte back).
        var next = 0
        for item in stream {
            let scalar = Unicode.Scalar(item.scalar)!  // tables and Hangul arithmetic give valid scalars
            let origin: Range<Int>
            if item.change <= 0 {
                origin = characters[min(next, characters.count - 1)].range
                next += 1 - Int(item.change)
            } else {
                origin = characters[max(0, min(next, characters.count) - 1)].range
            }
            origins += repeatElement(base + origin.lowerBound..<base + origin.upperBound, count: UTF8.width(scalar))
            output.append(scalar)
        }
        if String(output).utf8.elementsEqual(normalized.utf8) && origins.count == normalized.utf8.count {
            self.origins = origins
        } else {
            // Not expected (`normalized` comes from the same normaliser); if it happens, line characters
            // up one to one rather than report offsets of another text.
            self.origins = Self.oneToOne(characters, normalized: normalized, base: base)
        }
    }

    private struct InputScalar {
        let scalar: Unicode.Scalar
        let range: Range<Int>
    }

    private static func scalars(of utf8: UnsafeBufferPointer<UInt8>) -> [InputScalar] {
        var result: [InputScalar] = []
        var iterator = utf8.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while case .scalarValue(let scalar) = decoder.decode(&iterator) {
            let width = UTF8.width(scalar)
            result.append(InputScalar(scalar: scalar, range: offset..<offset + width))
            offset += width
        }
        return result
    }

    private static func oneToOne(_ characters: [InputScalar], normalized: String, base: Int) -> [Range<Int>] {
        var origins: [Range<Int>] = []
        for (index, scalar) in normalized.unicodeScalars.enumerated() {
            let range = characters.isEmpty ? 0..<0 : characters[min(index, characters.count - 1)].range
            origins += repeatElement(base + range.lowerBound..<base + range.upperBound, count: UTF8.width(scalar))
        }
        return origins
    }
}
