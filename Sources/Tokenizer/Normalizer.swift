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

    /// NFC as `tokenizers` computes it (Unicode 9.0 tables; see `CanonicalComposition`), in O(n log n)
    /// time whatever the text.
    static func nfc(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        if isQuickCheckNFC(text) { return text }
        var scalars = String.UnicodeScalarView()
        for item in CanonicalComposition.normalize(text.unicodeScalars) {
            scalars.append(Unicode.Scalar(item.scalar)!)  // tables and Hangul arithmetic give valid scalars
        }
        return String(scalars)
    }

    /// The standard library's NFC quick check (linear, and about ten times faster than normalising): most
    /// text is already NFC. Its tables are newer than Unicode 9.0, which is safe in this direction: text
    /// it calls NFC has no character that decomposes, no composable pair and no marks out of order
    /// under the newer data, and characters assigned after 9.0 are inert starters for `tokenizers`, so
    /// its NFC leaves the text unchanged too. "No" or "maybe" falls through to the full normalisation.
    static func isQuickCheckNFC(_ text: String) -> Bool {
        if #available(macOS 26.0, iOS 26.0, watchOS 26.0, tvOS 26.0, visionOS 26.0, *) {
            var span = text.utf8Span
            return span.checkForNFC(quickCheck: true)
        }
        return false
    }
}
