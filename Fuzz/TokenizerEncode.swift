// libFuzzer target: arbitrary bytes (decoded as UTF-8, invalid sequences becoming U+FFFD as every
// caller does) encoded by the real Qwen3-Embedding tokenizer, loaded once from the directory in
// FUZZ_TOKENIZER_DIRECTORY (Scripts/fuzz.sh passes Tests/Fixtures/tiny-qwen3-embedding). Compiled
// together with Sources/Tokenizer (see Scripts/fuzz.sh).
//
// Finding = any crash, sanitizer report, leak or time-out (a quadratic input shows up as a slow unit
// or a time-out), or a broken invariant, checked with `preconditionFailure` so it crashes:
// - `encodeWithOffsets` gives the same ids as `encode`, with offsets inside the text;
// - decoding the ids gives back the NFC form of the text (byte-level BPE loses nothing);
// - NFC is idempotent, and the heap-based and scanning BPE merges agree on every piece.
import Foundation

let tokenizer: Tokenizer = {
    guard let directory = ProcessInfo.processInfo.environment["FUZZ_TOKENIZER_DIRECTORY"] else {
        fatalError("set FUZZ_TOKENIZER_DIRECTORY to a directory holding the Qwen3 tokenizer.json")
    }
    do {
        return try Tokenizer.load(directory: URL(fileURLWithPath: directory))
    } catch {
        fatalError("cannot load the tokenizer in \(directory): \(error)")
    }
}()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    _ = tokenizer.vocabularySize  // load before the first input, so its time is not charged to one
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let ids = tokenizer.encode(text, addSpecialTokens: false)
    let withOffsets = tokenizer.encodeWithOffsets(text, addSpecialTokens: false)
    guard withOffsets.map(\.id) == ids else { preconditionFailure("encodeWithOffsets ids differ from encode") }
    let length = text.utf8.count
    for token in withOffsets {
        guard let range = token.utf8Offsets, range.lowerBound >= 0, range.upperBound <= length else {
            preconditionFailure("offsets \(String(describing: token.utf8Offsets)) outside a \(length)-byte text")
        }
    }
    let normalized = Normalizer.nfc(text)
    guard tokenizer.decode(ids).utf8.elementsEqual(normalized.utf8) else {
        preconditionFailure("decode(encode(text)) is not NFC(text)")
    }
    guard Normalizer.nfc(normalized).utf8.elementsEqual(normalized.utf8) else { preconditionFailure("NFC is not idempotent") }
    var utf8 = normalized
    utf8.withUTF8 { buffer in
        tokenizer.preTokenizer.split(buffer) { range in
            let piece = UnsafeBufferPointer(rebasing: buffer[range])
            // Pieces around the switch-over length (256 bytes); the scanning merge is quadratic, so longer
            // ones would slow the fuzzer down for little (LinearityTests compares both on long pieces).
            guard piece.count > 1, piece.count <= 320 else { return }
            var heap: [Int] = []
            tokenizer.model.mergeLong(piece, into: &heap)
            guard heap == tokenizer.model.mergeShort(piece).map(Int.init) else {
                preconditionFailure("heap and scanning merges differ")
            }
        }
    }
    return 0
}
