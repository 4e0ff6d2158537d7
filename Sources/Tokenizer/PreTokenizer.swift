/// The Qwen2/Qwen3 pre-tokenizer: a split on
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// with `Isolated` behaviour (every match is a piece; the pattern covers every character, so there are
/// no gaps). It is matched by hand rather than by a regex engine: faster, and the leftmost-alternative
/// backtracking semantics of Oniguruma (which Hugging Face `tokenizers` uses) are reproduced exactly
/// for this one pattern, alternative by alternative.
struct QwenPreTokenizer: Sendable {
    /// The pattern this type implements; tokenizer files with another pattern are refused.
    static let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Character classes the pattern distinguishes.
    struct CharacterClass: OptionSet {
        let rawValue: UInt8
        static let letter = CharacterClass(rawValue: 1)      // \p{L}
        static let number = CharacterClass(rawValue: 2)      // \p{N}
        static let whitespace = CharacterClass(rawValue: 4)  // \s (Unicode White_Space)
        static let newline = CharacterClass(rawValue: 8)     // \r or \n
    }

    private static let asciiClasses: [CharacterClass] = (0..<128).map { value in
        classifyByProperties(Unicode.Scalar(UInt8(value)))
    }

    /// The class of a scalar (a table lookup for ASCII).
    @inline(__always)
    static func classify(_ scalar: Unicode.Scalar) -> CharacterClass {
        scalar.value < 128 ? asciiClasses[Int(scalar.value)] : classifyByProperties(scalar)
    }

    private static func classifyByProperties(_ scalar: Unicode.Scalar) -> CharacterClass {
        var result: CharacterClass = []
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        default:
            break
        }
        if scalar.properties.isWhitespace { result.insert(.whitespace) }
        if scalar == "\n" || scalar == "\r" { result.insert(.newline) }
        return result
    }

    /// Splits `scalars` into pieces, returned as index ranges.
    func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let count = scalars.count
        let classes = scalars.map(Self.classify)
        var pieces: [Range<Int>] = []
        pieces.reserveCapacity(count / 3 + 1)
        var start = 0
        while start < count {
            let end = matchLength(scalars, classes, at: start)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }

    /// End of the match at `i`, trying the alternatives in the pattern's order.
    private func matchLength(_ s: [Unicode.Scalar], _ c: [CharacterClass], at i: Int) -> Int {
        let count = s.count
        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if s[i] == "'", i + 1 < count {
            let first = Self.foldedLetter(s[i + 1])
            if first == "s" || first == "t" || first == "m" || first == "d" { return i + 2 }
            if i + 2 < count {
                let second = Self.foldedLetter(s[i + 2])
                if (first == "r" && second == "e") || (first == "v" && second == "e") || (first == "l" && second == "l") {
                    return i + 3
                }
            }
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if c[i].contains(.letter) {
            var j = i + 1
            while j < count && c[j].contains(.letter) { j += 1 }
            return j
        }
        if c[i].isDisjoint(with: [.letter, .number, .newline]), i + 1 < count, c[i + 1].contains(.letter) {
            var j = i + 2
            while j < count && c[j].contains(.letter) { j += 1 }
            return j
        }
        // 3. \p{N}
        if c[i].contains(.number) { return i + 1 }
        // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
        let isOther = { (k: Int) in c[k].isDisjoint(with: [.whitespace, .letter, .number]) }
        var p = i
        if s[i] == " ", i + 1 < count, isOther(i + 1) { p = i + 1 }
        if isOther(p) {
            var j = p + 1
            while j < count && isOther(j) { j += 1 }
            while j < count && c[j].contains(.newline) { j += 1 }
            return j
        }
        // Only whitespace is left at i.
        var runEnd = i + 1
        while runEnd < count && c[runEnd].contains(.whitespace) { runEnd += 1 }
        // 5. \s*[\r\n]+ : greedy \s* backs off to the last newline of the run.
        var k = runEnd - 1
        while k >= i {
            if c[k].contains(.newline) { return k + 1 }
            k -= 1
        }
        // 6. \s+(?!\S) : the whole run at the end of text, else the run minus its last character.
        if runEnd == count { return runEnd }
        if runEnd - i >= 2 { return runEnd - 1 }
        // 7. \s+
        return runEnd
    }

    /// ASCII lower case of a letter for the case-insensitive contractions, with the Unicode case folds
    /// that land on those letters (U+017F LONG S folds to "s").
    private static func foldedLetter(_ scalar: Unicode.Scalar) -> Unicode.Scalar? {
        switch scalar.value {
        case 0x41...0x5A: return Unicode.Scalar(scalar.value + 32)
        case 0x61...0x7A: return scalar
        case 0x17F: return "s"
        default: return nil
        }
    }
}
