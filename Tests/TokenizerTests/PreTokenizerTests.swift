import Testing
@testable import Tokenizer

/// The hand-written matcher against the regex semantics, case by case (the corpus checks it against
/// Hugging Face end to end).
@Suite struct PreTokenizerTests {
    func pieces(_ text: String) -> [String] {
        var result: [String] = []
        var text = text
        text.withUTF8 { utf8 in
            QwenPreTokenizer().split(utf8) { result.append(String(decoding: utf8[$0], as: UTF8.self)) }
        }
        return result
    }

    @Test func alternatives() {
        #expect(pieces("") == [])
        #expect(pieces("Hello world") == ["Hello", " world"])
        #expect(pieces("it's") == ["it", "'s"])
        #expect(pieces("IT'S WE'RE") == ["IT", "'S", " WE", "'RE"])
        #expect(pieces("'\u{17F}s") == ["'\u{17F}", "s"], "U+017F case-folds to s")
        #expect(pieces("'hello") == ["'hello"])
        #expect(pieces("123") == ["1", "2", "3"])
        #expect(pieces(" .Hi") == [" .", "Hi"])
        #expect(pieces("!!!\n\nx") == ["!!!\n\n", "x"])
        #expect(pieces("\u{00A0}word") == ["\u{00A0}word"], "a non-newline space prefixes a word")
        #expect(pieces("\nword") == ["\n", "word"], "a newline does not")
    }

    @Test func whitespaceRuns() {
        #expect(pieces("a   b") == ["a", "  ", " b"])
        #expect(pieces("a \tb") == ["a", " ", "\tb"])
        #expect(pieces("x \n\n y") == ["x", " \n\n", " y"])
        #expect(pieces("x \n \n  y") == ["x", " \n \n", " ", " y"])
        #expect(pieces("end   ") == ["end", "   "])
        #expect(pieces("a\u{0085}\u{0085}b") == ["a", "\u{0085}", "\u{0085}b"], "U+0085 is White_Space")
        #expect(pieces("a\u{1C}\u{1C}b") == ["a", "\u{1C}\u{1C}", "b"], "U+001C is not White_Space")
        #expect(pieces("a\u{200B}\u{200B}b") == ["a", "\u{200B}\u{200B}", "b"], "ZERO WIDTH SPACE is not White_Space")
        #expect(pieces("a\rb") == ["a", "\r", "b"])
    }

    @Test func unicodeVersionOfOniguruma() {
        // U+088F is a letter from Unicode 17; Oniguruma in tokenizers (Unicode 16) calls it "other".
        #expect(ScalarClass.of(0x088F) == 0)
        #expect(ScalarClass.of(0x4E00) == ScalarClass.letter)
        #expect(ScalarClass.of(0x0661) == ScalarClass.number)
        #expect(ScalarClass.of(0x3000) == ScalarClass.whitespace)
        #expect(ScalarClass.of(0x1F600) == 0)
    }
}
