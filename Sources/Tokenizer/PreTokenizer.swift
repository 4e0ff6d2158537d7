/// The Qwen2/Qwen3 pre-tokenizer: a split on
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// with `Isolated` behaviour: every match is a piece, and since some alternative matches at every
/// position there are no gaps. It is matched by hand rather than by a regex engine: much faster, and
/// the leftmost-alternative backtracking semantics of Oniguruma (the engine Hugging Face `tokenizers`
/// uses) are reproduced exactly for this one pattern, alternative by alternative.
struct QwenPreTokenizer: Sendable {
    /// The pattern this type implements; tokenizer files with any other pattern are refused.
    static let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Splits UTF-8 text into pieces, calling `body` with the byte range of each piece in order.
    ///
    /// - Parameter utf8: valid UTF-8 (it comes from a Swift `String`).
    func split(_ utf8: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        if utf8.isEmpty { return }
        var scalars = ScalarTable(utf8)
        scalars.withBuffers { classes, starts in
            let count = classes.count
            var tally = WorkTally()
            var start = 0
            while start < count {
                let end = Self.matchEnd(classes, starts, utf8, at: start, &tally)
                body(starts[start]..<starts[end])
                start = end
            }
            tally.flush()
        }
    }

    /// End (scalar index) of the match that starts at scalar `i`, trying the alternatives in the
    /// pattern's order; the first alternative that matches wins, as in a backtracking engine.
    @inline(__always)
    private static func matchEnd(
        _ c: UnsafeBufferPointer<UInt8>, _ starts: UnsafeBufferPointer<Int>, _ utf8: UnsafeBufferPointer<UInt8>,
        at i: Int, _ tally: inout WorkTally
    ) -> Int {
        // Every scan below starts at i and ends where the match ends (or, for the whitespace run, at most
        // one scalar past it), so each scalar is looked at a bounded number of times: linear overall.
        // The tally counts the scalars looked at, for the tests that prove it.
        tally.count()
        let count = c.count
        let ci = c[i]
        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if ci & ScalarClass.apostrophe != 0, i + 1 < count {
            let first = foldedLetter(utf8, starts, i + 1)
            if first == UInt8(ascii: "s") || first == UInt8(ascii: "t") || first == UInt8(ascii: "m")
                || first == UInt8(ascii: "d") {
                return i + 2
            }
            if i + 2 < count, first != 0 {
                let second = foldedLetter(utf8, starts, i + 2)
                if (first == UInt8(ascii: "r") && second == UInt8(ascii: "e"))
                    || (first == UInt8(ascii: "v") && second == UInt8(ascii: "e"))
                    || (first == UInt8(ascii: "l") && second == UInt8(ascii: "l")) {
                    return i + 3
                }
            }
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+  (the optional class cannot match a letter, so a letter at i
        //    means the option is skipped; otherwise it takes one non-newline, non-number scalar).
        if ci & ScalarClass.letter != 0 {
            var j = i + 1
            while j < count && c[j] & ScalarClass.letter != 0 { j += 1; tally.count() }
            return j
        }
        if ci & (ScalarClass.number | ScalarClass.newline) == 0, i + 1 < count, c[i + 1] & ScalarClass.letter != 0 {
            var j = i + 2
            while j < count && c[j] & ScalarClass.letter != 0 { j += 1; tally.count() }
            return j
        }
        // 3. \p{N}
        if ci & ScalarClass.number != 0 { return i + 1 }
        // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*  (letters and numbers were handled above, so "other" here
        //    means "not whitespace").
        var p = i
        if ci & ScalarClass.space != 0, i + 1 < count, c[i + 1] & ScalarClass.notOther == 0 { p = i + 1 }
        if c[p] & ScalarClass.notOther == 0 {
            var j = p + 1
            while j < count && c[j] & ScalarClass.notOther == 0 { j += 1; tally.count() }
            while j < count && c[j] & ScalarClass.newline != 0 { j += 1; tally.count() }
            return j
        }
        // Only whitespace can be at i now.
        var runEnd = i + 1
        while runEnd < count && c[runEnd] & ScalarClass.whitespace != 0 { runEnd += 1; tally.count() }
        // 5. \s*[\r\n]+ : the greedy \s* backs off to the last newline of the run; [\r\n]+ then
        //    cannot extend, because a newline right after it would be in the run.
        var k = runEnd - 1
        while k >= i {
            tally.count()
            if c[k] & ScalarClass.newline != 0 { return k + 1 }
            k -= 1
        }
        // 6. \s+(?!\S) : the whole run at the end of the text, else the run minus its last scalar
        //    (which leaves that scalar to prefix the next word), which needs a run of two or more.
        if runEnd == count { return runEnd }
        if runEnd - i >= 2 { return runEnd - 1 }
        // 7. \s+
        return runEnd
    }

    /// The ASCII lower-case letter a scalar case-folds to, for the case-insensitive contractions, or 0.
    ///
    /// Oniguruma folds with Unicode's simple case folding; of the letters the contractions use, only
    /// `s` has a non-ASCII fold source: U+017F LATIN SMALL LETTER LONG S (so `'ſ` matches `'s`, as
    /// checked against `tokenizers`). U+212A KELVIN SIGN folds to `k`, which no contraction uses.
    @inline(__always)
    private static func foldedLetter(_ utf8: UnsafeBufferPointer<UInt8>, _ starts: UnsafeBufferPointer<Int>, _ i: Int) -> UInt8 {
        let offset = starts[i]
        let length = starts[i + 1] - offset
        if length == 1 {
            let byte = utf8[offset]
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte | 0x20
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte
            default: return 0
            }
        }
        if length == 2 && utf8[offset] == 0xC5 && utf8[offset + 1] == 0xBF { return UInt8(ascii: "s") }
        return 0
    }
}

/// Bit flags of the character classes the pattern distinguishes.
enum ScalarClass {
    /// `\p{L}`: general category L*.
    static let letter: UInt8 = 1
    /// `\p{N}`: Nd, Nl, No.
    static let number: UInt8 = 2
    /// `\s`: Unicode White_Space.
    static let whitespace: UInt8 = 4
    /// `\r` or `\n`.
    static let newline: UInt8 = 8
    /// U+0020 (the literal space in ` ?`).
    static let space: UInt8 = 16
    /// U+0027 (the apostrophe of the contractions).
    static let apostrophe: UInt8 = 32
    /// Anything that is not `[^\s\p{L}\p{N}]`.
    static let notOther: UInt8 = letter | number | whitespace

    /// The last Unicode version whose letters, numbers and spaces Oniguruma (as built into
    /// `tokenizers` 0.23) knows. Swift's tables are newer (Unicode 17 in Swift 6.3): scalars assigned
    /// later are "other" for Oniguruma, so they are treated as such here too — checked against
    /// `tokenizers` over every scalar.
    static let oniguruma = (major: 16, minor: 0)

    /// Classes of the Basic Multilingual Plane, computed once (about 64 KB).
    static let basicPlane: [UInt8] = (0..<0x10000).map { value in
        Unicode.Scalar(UInt32(value)).map(classify) ?? 0
    }

    /// The class of a scalar.
    @inline(__always)
    static func of(_ value: UInt32) -> UInt8 {
        value < 0x10000 ? basicPlane[Int(value)] : classify(Unicode.Scalar(value)!)
    }

    private static func classify(_ scalar: Unicode.Scalar) -> UInt8 {
        let properties = scalar.properties
        var result: UInt8 = 0
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result = letter
        case .decimalNumber, .letterNumber, .otherNumber:
            result = number
        default:
            if properties.isWhitespace { result = whitespace }
        }
        if result != 0, let age = properties.age,
           (age.major, age.minor) > (oniguruma.major, oniguruma.minor) {
            result = 0
        }
        switch scalar {
        case "\n", "\r": result |= newline
        case " ": result |= space
        case "'": result |= apostrophe
        default: break
        }
        return result
    }
}

/// The scalars of a UTF-8 buffer: each one's class and byte offset (plus a final offset at the end),
/// decoded once so the matcher can look ahead and back by scalar without re-decoding.
struct ScalarTable {
    private var classes: [UInt8]
    private var starts: [Int]

    init(_ utf8: UnsafeBufferPointer<UInt8>) {
        classes = []
        starts = []
        classes.reserveCapacity(utf8.count)
        starts.reserveCapacity(utf8.count + 1)
        var offset = 0
        let count = utf8.count
        while offset < count {
            let lead = utf8[offset]
            starts.append(offset)
            if lead < 0x80 {
                classes.append(ScalarClass.basicPlane[Int(lead)])
                offset += 1
                continue
            }
            // Valid UTF-8 is guaranteed (the bytes come from a String).
            var value: UInt32
            var length: Int
            if lead < 0xE0 {
                value = UInt32(lead & 0x1F); length = 2
            } else if lead < 0xF0 {
                value = UInt32(lead & 0x0F); length = 3
            } else {
                value = UInt32(lead & 0x07); length = 4
            }
            for k in 1..<length { value = value << 6 | UInt32(utf8[offset + k] & 0x3F) }
            classes.append(ScalarClass.of(value))
            offset += length
        }
        starts.append(count)
    }

    mutating func withBuffers<R>(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Int>) -> R) -> R {
        classes.withUnsafeBufferPointer { c in starts.withUnsafeBufferPointer { s in body(c, s) } }
    }
}
