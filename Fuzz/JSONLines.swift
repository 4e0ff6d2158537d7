// libFuzzer target: arbitrary bytes as a `--input` JSON Lines file, read by the CLI's `readJSONLines`
// (Sources/qwen3-embed/InputOutput.swift) with the keys `embed`/`tokenize` and `rerank` ask for.
// Scripts/fuzz.sh compiles the part of that file before "// MARK: - JSON Lines output" (the streams,
// errors and reader, which need only Foundation) with this file; the rest needs the whole engine.
//
// Finding = any crash, sanitizer report, leak or time-out. Bad input must only throw
// `CommandLineError` (one line for the user), e.g. for deep nesting, which must not reach the
// recursive JSON parser.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    MemoryFile.write(UnsafeBufferPointer(start: data, count: size))
    _ = try? readJSONLines(MemoryFile.path, keys: ["text"])
    _ = try? readJSONLines(MemoryFile.path, keys: ["query", "document"])
    return 0
}
