// libFuzzer target: arbitrary bytes as the contents of a tokenizer.json, given to
// `Tokenizer(tokenizerJSON:)`; a tokenizer that loads then encodes and decodes a fixed text with every
// pipeline stage (added tokens, NFC, the pre-tokenizer, BPE, offsets). Compiled together with
// Sources/Tokenizer (see Scripts/fuzz.sh).
//
// Finding = any crash, sanitizer report, leak or time-out. A malformed or unsupported file must only
// throw `TokenizerError`.
import Foundation

/// Exercises every stage: an added-token-like spelling, a contraction, digits, spaces, a newline, a
/// decomposed accent (NFC), CJK and an emoji (multi-byte BPE), a long letter run (heap merge).
let probe = "<|endoftext|>Hello, it's 2026!  caf\u{65}\u{301}\n\t東京 🙂 " + String(repeating: "abc", count: 120)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let contents = Data(bytes: data, count: size)
    guard let tokenizer = try? Tokenizer(tokenizerJSON: contents) else { return 0 }
    let ids = tokenizer.encode(probe, maxLength: 64)
    let withOffsets = tokenizer.encodeWithOffsets(probe)
    _ = tokenizer.decode(ids, skipSpecialTokens: true)
    _ = tokenizer.decode(withOffsets.map(\.id) + [-1, Int.max, tokenizer.vocabularySize])
    for id in ids.prefix(8) { _ = tokenizer.token(forID: id).flatMap(tokenizer.id(forToken:)) }
    return 0
}
