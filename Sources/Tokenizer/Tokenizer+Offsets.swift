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
            : OffsetAlignment(original: utf8, at: base, normalized: normalized, normalize: normalizer.apply)
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
    /// the original character it replaces, or with its predecessor's when inserted. That stream is
    /// rebuilt here (decompose each character, order combining marks, compose) for each stretch of text
    /// NFC changes; stretches are cut before characters that can neither compose with nor reorder
    /// around what precedes them (ASCII, or class 0 with NFC quick check "yes"), so the rest of the text
    /// costs nothing.
    init(original: UnsafeBufferPointer<UInt8>, at base: Int, normalized: String, normalize: (String) -> String) {
        self.base = base
        let characters = Self.scalars(of: original)
        guard !characters.isEmpty else {
            origins = []
            return
        }
        var origins: [Range<Int>] = []
        origins.reserveCapacity(normalized.utf8.count)
        var output = String.UnicodeScalarView()
        var chunkStart = 0
        for index in 1...characters.count {
            guard index == characters.count || Self.isBoundary(characters[index].scalar) else { continue }
            let chunk = characters[chunkStart..<index]
            chunkStart = index
            let text = String(String.UnicodeScalarView(chunk.map(\.scalar)))
            let result = chunk.count == 1 && Self.isBoundary(chunk.first!.scalar) ? text : normalize(text)
            // Bytes, not `==`: String equality is canonical equivalence, under which NFC changes nothing.
            if result.utf8.elementsEqual(text.utf8) {
                for character in chunk {
                    origins += repeatElement(base + character.range.lowerBound..<base + character.range.upperBound,
                                             count: character.range.count)
                }
                output.append(contentsOf: chunk.map(\.scalar))
                continue
            }
            let aligned = Self.align(Array(chunk), to: Array(result.unicodeScalars))
            for (scalar, range) in aligned {
                origins += repeatElement(base + range.lowerBound..<base + range.upperBound, count: UTF8.width(scalar))
                output.append(scalar)
            }
        }
        if String(output).utf8.elementsEqual(normalized.utf8) && origins.count == normalized.utf8.count {
            self.origins = origins
        } else {
            // Not expected (every stretch is normalised on its own, which NFC allows at these cuts); if
            // it happens, fall back to lining characters up one to one.
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

    /// Whether NFC can be applied separately on either side of a cut before `scalar`.
    private static func isBoundary(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return true }
        guard scalar.properties.canonicalCombiningClass == .notReordered else { return false }
        if #available(macOS 26.0, iOS 26.0, watchOS 26.0, tvOS 26.0, visionOS 26.0, *) {
            let text = String(scalar)
            var span = text.utf8Span
            return span.checkForNFC(quickCheck: true)
        }
        return false  // only ASCII cuts: longer stretches, same result
    }

    /// The `tokenizers` alignment of one stretch: each output character with the input range it stands for.
    private static func align(_ input: [InputScalar], to output: [Unicode.Scalar]) -> [(Unicode.Scalar, Range<Int>)] {
        let stream = changeStream(input.map(\.scalar))
        if stream.map(\.scalar) == output {
            var result: [(Unicode.Scalar, Range<Int>)] = []
            var next = 0
            var previous = input[0].range
            for (scalar, change) in stream {
                if change > 0 {
                    result.append((scalar, previous))
                } else {
                    previous = input[min(next, input.count - 1)].range
                    result.append((scalar, previous))
                    next += 1 - change
                }
            }
            return result
        }
        // The rebuilt stream should always equal NFC; if not, keep the stretch's characters in order.
        return output.enumerated().map { index, scalar in (scalar, input[min(index, input.count - 1)].range) }
    }

    /// NFC as a change stream: canonical decomposition of each character (the first part replaces it,
    /// the others are insertions), canonical ordering of combining marks, then canonical composition
    /// (a composed character takes over the first's place and swallows the second).
    private static func changeStream(_ scalars: [Unicode.Scalar]) -> [(scalar: Unicode.Scalar, change: Int)] {
        var items: [(scalar: Unicode.Scalar, change: Int)] = []
        for scalar in scalars {
            for (index, part) in String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars.enumerated() {
                items.append((part, index == 0 ? 0 : 1))
            }
        }
        // Canonical ordering: each run of marks sorted by combining class, stably.
        var start = 0
        while start < items.count {
            guard combiningClass(items[start].scalar) != 0 else { start += 1; continue }
            var end = start
            while end < items.count && combiningClass(items[end].scalar) != 0 { end += 1 }
            let sorted = items[start..<end].enumerated()
                .sorted { (combiningClass($0.element.scalar), $0.offset) < (combiningClass($1.element.scalar), $1.offset) }
                .map(\.element)
            items.replaceSubrange(start..<end, with: sorted)
            start = end
        }
        // Canonical composition: a character joins the last starter unless something between them is a
        // starter or has a class at least as high (it is "blocked").
        var result: [(scalar: Unicode.Scalar, change: Int)] = []
        var starter: Int?
        var lastClass: UInt8?  // class of the last character kept after the starter
        for item in items {
            let itemClass = combiningClass(item.scalar)
            if let starter, lastClass.map({ $0 != 0 && $0 < itemClass }) ?? true,
               let composite = compose(result[starter].scalar, item.scalar) {
                result[starter].scalar = composite
                result[starter].change += item.change - 1
                continue
            }
            result.append(item)
            if itemClass == 0 {
                starter = result.count - 1
                lastClass = nil
            } else {
                lastClass = itemClass
            }
        }
        return result
    }

    private static func combiningClass(_ scalar: Unicode.Scalar) -> UInt8 {
        scalar.properties.canonicalCombiningClass.rawValue
    }

    /// The primary composite of two characters, if there is one.
    private static func compose(_ first: Unicode.Scalar, _ second: Unicode.Scalar) -> Unicode.Scalar? {
        // The `unicode-normalization` crate behind `tokenizers` never composes these (see `Normalizer.nfc`).
        if first.value == 0x11935 && second.value == 0x11930 { return nil }
        let composed = (String(first) + String(second)).precomposedStringWithCanonicalMapping.unicodeScalars
        return composed.count == 1 ? composed.first : nil
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
