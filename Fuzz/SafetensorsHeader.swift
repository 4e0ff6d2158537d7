// libFuzzer target: a whole .safetensors file (8-byte header length, JSON header, data) given to
// `SafetensorsFile`, compiled together with Sources/ModelFormats (see Scripts/fuzz.sh).
//
// Finding = any crash, sanitizer report, leak or time-out. A malformed file must only throw
// `ModelFormatError`; a file that loads must hand out tensors whose byte ranges lie inside the file.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    MemoryFile.write(bytes)
    guard let file = try? SafetensorsFile(path: MemoryFile.path) else { return 0 }
    for tensor in file.tensors.values {
        // Touch the first and last byte of every tensor: ASan reports any range the checks let through
        // that does not lie inside the mapping. Small tensors are also converted to floats, which reads
        // every element through the dtype's conversion.
        let raw = tensor.data
        if let first = raw.first, let last = raw.last { blackHole(first ^ last) }
        if tensor.elementCount <= 1 << 16 { blackHole(UInt8(truncatingIfNeeded: tensor.floats().count)) }
    }
    return 0
}

@inline(never)
func blackHole(_ value: UInt8) {
    withExtendedLifetime(value) {}
}
