import Foundation

/// The normalisers this tokenizer implements: none, or Unicode NFC (what the Qwen files declare).
enum Normalizer: Sendable, Equatable {
    case none
    case nfc

    /// The normalised form of `text`.
    func apply(_ text: String) -> String {
        switch self {
        case .none: text
        case .nfc: Self.nfc(text)
        }
    }

    /// Whether the UTF-8 bytes are all ASCII, which NFC leaves unchanged.
    @inline(__always)
    static func isASCII(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        var bits: UInt8 = 0
        for byte in utf8 { bits |= byte }  // branch-free, so it vectorises
        return bits < 0x80
    }

    /// NFC as `tokenizers` computes it (with the `unicode-normalization` crate).
    ///
    /// One difference with Foundation is known, found by comparing every scalar's decomposition: the
    /// crate never composes U+11935 U+11930 (DIVES AKURU) into U+11938, whereas Foundation does. U+11930
    /// has combining class 0 and starts no composition, so normalising the text in pieces cut just
    /// before each U+11930 gives the crate's result.
    static func nfc(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        if #available(macOS 26.0, iOS 26.0, watchOS 26.0, tvOS 26.0, visionOS 26.0, *) {
            // The standard library's quick check (about ten times faster than normalising): most text
            // is already NFC. "No" or "maybe" falls through to the full normalisation.
            var span = text.utf8Span
            if span.checkForNFC(quickCheck: true) { return text }
        }
        let blocked: Unicode.Scalar = "\u{11930}"
        guard text.unicodeScalars.contains(blocked) else { return text.precomposedStringWithCanonicalMapping }
        var result = ""
        var piece = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == blocked && !piece.isEmpty {
                result += String(piece).precomposedStringWithCanonicalMapping
                piece = String.UnicodeScalarView()
            }
            piece.append(scalar)
        }
        result += String(piece).precomposedStringWithCanonicalMapping
        return result
    }
}
