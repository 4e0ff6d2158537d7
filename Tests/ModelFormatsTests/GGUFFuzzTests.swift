import Foundation
import Testing
import TestSupport
@testable import ModelFormats

/// Where the count, length and type fields of a (valid) GGUF file are, so mutations can target them.
private struct FieldMap {
    var u64Fields: [Int] = []
    var u32Fields: [Int] = []
    var headerEnd = 0

    init(_ bytes: [UInt8]) {
        var position = 4
        func u32() -> UInt32 {
            defer { position += 4 }
            u32Fields.append(position)
            return bytes[position..<(position + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        func u64() -> UInt64 {
            defer { position += 8 }
            u64Fields.append(position)
            return bytes[position..<(position + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        func string() { position += Int(u64()) }
        func value(_ type: UInt32) {
            switch type {
            case 0, 1, 7: position += 1
            case 2, 3: position += 2
            case 4, 5, 6: position += 4
            case 10, 11, 12: position += 8
            case 8: string()
            default:
                let element = u32()
                for _ in 0..<u64() { value(element) }
            }
        }
        _ = u32()  // version
        let tensors = u64(), keys = u64()
        for _ in 0..<keys {
            string()
            value(u32())
        }
        for _ in 0..<tensors {
            string()
            for _ in 0..<u32() { _ = u64() }
            _ = u32()
            _ = u64()
        }
        headerEnd = position
    }
}

/// Seeded mutation fuzzing of the GGUF reader: every mutant of a valid file either parses into a
/// consistent header (all tensor data inside the file, every supported tensor dequantizable) or throws
/// a `ModelFormatError` — never a crash, a trap or a runaway allocation.
@Suite struct GGUFFuzzTests {
    static let randomMutants = 40_000

    @Test func mutantsParseOrThrow() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.validV3)))
        let fields = FieldMap(original)
        #expect(fields.u64Fields.count > 100 && fields.u32Fields.count > 60)
        let headerEnd = fields.headerEnd
        var generator = SeededGenerator(seed: 0x6767_7566_F022)
        var mutants = 0, accepted = 0, opened = 0
        var errorKinds: [String: Int] = [:]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let start = ContinuousClock.now

        func random(_ bound: Int) -> Int { Int(generator.next() % UInt64(max(bound, 1))) }
        /// A position: mostly in the header, where damage matters.
        func position(in bytes: [UInt8]) -> Int {
            random(10) < 8 ? random(min(headerEnd, bytes.count)) : random(bytes.count)
        }
        func write<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
            withUnsafeBytes(of: value.littleEndian) { raw in
                for (index, byte) in raw.enumerated() where offset + index < bytes.count { bytes[offset + index] = byte }
            }
        }

        func run(_ bytes: [UInt8]) {
            mutants += 1
            let header: GGUFHeader
            do {
                header = try bytes.withUnsafeBytes { try GGUFHeader(bytes: $0, path: "fuzz.gguf") }
            } catch let error as ModelFormatError {
                let kind: String
                switch error {
                case .corruptFile: kind = "corruptFile"
                case .invalidTensor: kind = "invalidTensor"
                case .unsupportedFile: kind = "unsupportedFile"
                case .invalidMetadata: kind = "invalidMetadata"
                default: kind = "other"
                }
                errorKinds[kind, default: 0] += 1
                return
            } catch {
                Issue.record("non-ModelFormatError \(error)")
                return
            }
            accepted += 1
            check(header, bytes)
            // Every 64th accepted mutant also goes through the mapped-file API end to end.
            if accepted % 64 == 1 { openMapped(bytes) }
        }

        func check(_ header: GGUFHeader, _ bytes: [UInt8]) {
            #expect(header.alignment > 0 && header.alignment & (header.alignment - 1) == 0)
            #expect(header.metadataKeys.count == header.metadata.count)
            for value in header.metadata.values {
                _ = (value.integer, value.double, value.string, value.bool, value.strings, value.integers, value.floats)
            }
            for tensor in header.tensors {
                guard tensor.offset >= header.dataOffset, tensor.byteCount >= 0, tensor.offset + tensor.byteCount <= bytes.count,
                      tensor.byteCount == tensor.rows * tensor.type.rowByteCount(tensor.rowLength)!
                else {
                    Issue.record("accepted tensor \(tensor) outside a \(bytes.count)-byte file")
                    continue
                }
                guard tensor.type.isSupported else { continue }
                let count = tensor.elementCount
                var output = [Float](repeating: 0, count: count)
                bytes.withUnsafeBytes { raw in
                    output.withUnsafeMutableBufferPointer { buffer in
                        guard let destination = buffer.baseAddress, let base = raw.baseAddress else { return }
                        GGMLBlocks.dequantize(tensor.type, base + tensor.offset, count: count, into: destination)
                        if let layout = GGMLBlocks.affineLayout(of: tensor.type), count > 0 {
                            var codes = [UInt8](repeating: 0, count: count)
                            var scales = [Float](repeating: 0, count: count / layout.subBlockSize)
                            var offsets = scales
                            GGMLBlocks.decode(tensor.type, base + tensor.offset, count: count, codes: &codes, scales: &scales, offsets: &offsets)
                        }
                    }
                }
            }
        }

        func openMapped(_ bytes: [UInt8]) {
            let url = folder.appendingPathComponent("mutant-\(mutants).gguf")
            do {
                try Data(bytes).write(to: url)
                defer { try? FileManager.default.removeItem(at: url) }
                let file = try GGUFFile(path: url.path)
                opened += 1
                for tensor in file.tensors {
                    do {
                        _ = try file.floats(of: tensor)
                        if [.f32, .f16, .bf16].contains(tensor.type) { _ = try file.floatTensor(tensor).floats() }
                    } catch let error as ModelFormatError {
                        guard case .unsupportedTensorType = error else { Issue.record("unexpected \(error)"); continue }
                        #expect(!tensor.type.isSupported)
                    }
                }
                _ = try? file.tokenizerMetadata()
            } catch let error as ModelFormatError {
                Issue.record("mutant accepted in memory but not from a file: \(error)")
            } catch {
                Issue.record("non-ModelFormatError \(error)")
            }
        }

        // 1. The original, then every truncation through the end of the header and into the data.
        run(original)
        #expect(accepted == 1)
        for length in 0..<min(original.count, headerEnd + 200) { run(Array(original.prefix(length))) }

        // 2. Random mutations.
        let hugeValues: [UInt64] = [1 << 60, 1 << 63, .max, UInt64(Int.max), 1 << 32, UInt64(original.count), 0]
        for _ in 0..<Self.randomMutants {
            var bytes = original
            for _ in 0...random(3) {
                switch random(10) {
                case 0:  // bit flip
                    let at = position(in: bytes)
                    bytes[at] ^= 1 << UInt8(random(8))
                case 1:  // byte overwrite with 0 / 0xFF / random
                    let at = position(in: bytes)
                    bytes[at] = [0, 0xFF, UInt8(truncatingIfNeeded: generator.next())][random(3)]
                case 2:  // a run of bytes overwritten
                    let at = position(in: bytes), length = 1 + random(16)
                    for index in at..<min(bytes.count, at + length) { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
                case 3, 4:  // a count / length / dimension / offset set to a huge or boundary value
                    let field = fields.u64Fields[random(fields.u64Fields.count)]
                    let old = original[field..<(field + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    let choices = hugeValues + [old &+ 1, old &- 1, old &+ UInt64(1 + random(64)), generator.next()]
                    write(choices[random(choices.count)], at: field, in: &bytes)
                case 5:  // a type tag, dimension count or version set to something else
                    let field = fields.u32Fields[random(fields.u32Fields.count)]
                    let choices: [UInt32] = [UInt32(random(14)), UInt32(random(45)), 9, 8, 5, .max, 1 << 31, UInt32(truncatingIfNeeded: generator.next())]
                    write(choices[random(choices.count)], at: field, in: &bytes)
                case 6:  // truncation at a random length
                    bytes.removeLast(random(bytes.count + 1))
                case 7:  // splice: a chunk copied over another place
                    guard !bytes.isEmpty else { break }
                    let from = random(bytes.count), to = position(in: bytes), length = 1 + random(64)
                    let chunk = Array(bytes[from..<min(bytes.count, from + length)])
                    for (index, byte) in chunk.enumerated() where to + index < bytes.count { bytes[to + index] = byte }
                case 8:  // insertion (shifts everything after it)
                    let at = position(in: bytes)
                    bytes.insert(contentsOf: (0..<(1 + random(12))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: at)
                default:  // deletion
                    guard !bytes.isEmpty else { break }
                    let at = position(in: bytes)
                    bytes.removeSubrange(at..<min(bytes.count, at + 1 + random(12)))
                }
            }
            run(bytes)
        }
        let elapsed = ContinuousClock.now - start
        #expect(mutants >= 20_000)
        #expect(opened > 10)
        let kinds = errorKinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("GGUF fuzz: \(mutants) mutants in \(elapsed), \(accepted) accepted (\(opened) also opened from disk), rejected: \(kinds)")
    }
}
