// libFuzzer target: a whole GGUF file given to `GGUFFile` (header, metadata of every value type,
// tensor infos), then the typed metadata accessors and dequantization of every small tensor of a
// supported type; compiled together with Sources/ModelFormats (see Scripts/fuzz.sh).
//
// Finding = any crash, sanitizer report, leak or time-out. A malformed file must only throw
// `ModelFormatError`; a file that loads must only describe tensors lying inside it.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    MemoryFile.write(bytes)
    guard let file = try? GGUFFile(path: MemoryFile.path) else { return 0 }
    _ = try? file.tokenizerMetadata()
    for key in ["general.architecture", "general.file_type", "qwen3.context_length", "qwen3.embedding_length"] {
        _ = try? file.requiredInteger(key)
        _ = try? file.requiredDouble(key)
        _ = try? file.requiredString(key)
    }
    for tensor in file.tensors {
        let raw = file.data(of: tensor)
        if let first = raw.first, let last = raw.last { blackHole(first ^ last) }
        // Dequantize small tensors whole: every block decoder reads its blocks with ASan watching.
        if tensor.elementCount <= 1 << 16, let values = try? file.floats(of: tensor) {
            blackHole(UInt8(truncatingIfNeeded: values.count))
        }
        _ = try? file.floatTensor(tensor)
    }
    return 0
}

@inline(never)
func blackHole(_ value: UInt8) {
    withExtendedLifetime(value) {}
}
