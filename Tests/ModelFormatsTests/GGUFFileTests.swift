import Foundation
import Testing
@testable import ModelFormats

/// The expected value of the JSON form written by the fixture script: {"t": type, "v": value, "e": element type}.
private func expectedValue(_ json: Any) -> GGUFValue {
    let object = json as! [String: Any]
    let type = GGUFValueType(rawValue: UInt32((object["t"] as! NSNumber).intValue))!
    let value = object["v"]!
    func number() -> NSNumber { value as! NSNumber }
    switch type {
    case .uint8: return .uint8(UInt8(number().intValue))
    case .int8: return .int8(Int8(number().intValue))
    case .uint16: return .uint16(UInt16(number().intValue))
    case .int16: return .int16(Int16(number().intValue))
    case .uint32: return .uint32(UInt32(number().int64Value))
    case .int32: return .int32(Int32(number().int64Value))
    case .float32: return .float32(Float(bitPattern: UInt32(number().int64Value)))
    case .bool: return .bool(number().boolValue)
    case .string: return .string(value as! String)
    case .uint64: return .uint64(UInt64(value as! String)!)
    case .int64: return .int64(Int64(value as! String)!)
    case .float64: return .float64(Double(bitPattern: UInt64(value as! String)!))
    case .array:
        let element = GGUFValueType(rawValue: UInt32((object["e"] as! NSNumber).intValue))!
        return .array(element, (value as! [Any]).map(expectedValue))
    }
}

@Suite struct GGUFFileTests {
    /// The file gguf's GGUFWriter wrote: every value, key order, tensor info and tensor value.
    @Test(arguments: [(GGUFFixtures.validV3, UInt32(3)), (GGUFFixtures.validV2, UInt32(2))])
    func readsTheFileThePythonPackageWrote(path: String, version: UInt32) throws {
        let expected = try GGUFFixtures.json("valid-expected.json") as! [String: Any]
        let file = try GGUFFile(path: path)
        #expect(file.version == version)
        #expect(file.alignment == 64)
        #expect(file.dataOffset == (expected["data_offset"] as! Int))
        #expect(file.file.bytes.count == (expected["file_size"] as! Int))
        #expect(file.metadataKeys == (expected["metadata_keys"] as! [String]))
        let metadata = expected["metadata"] as! [String: Any]
        #expect(file.metadata.count == metadata.count)
        for (key, json) in metadata {
            #expect(file.metadata[key] == expectedValue(json), "\(key): \(String(describing: file.metadata[key]))")
        }

        let tensors = expected["tensors"] as! [[String: Any]]
        #expect(file.tensors.map(\.name) == tensors.map { $0["name"] as! String })
        for (info, entry) in zip(file.tensors, tensors) {
            #expect(info.type.name == entry["type"] as! String)
            #expect(info.dimensions == entry["dimensions"] as! [Int])
            #expect(info.offset == entry["offset"] as! Int, "\(info.name)")
            #expect(info.byteCount == entry["byte_count"] as! Int)
            #expect(info.offset % 64 == 0)
            #expect(file.tensor(named: info.name) == info)
            #expect(file.data(of: info).count == info.byteCount)
            guard let encoded = entry["values"] as? String else {
                #expect(!info.type.isSupported)
                continue
            }
            let values = floats(base64: encoded)
            #expect(values.count == info.elementCount)
            #expect(try file.floats(of: info).map(\.bitPattern) == values.map(\.bitPattern), "\(info.name)")
            // Row by row from the middle gives the same rows.
            if info.rows > 1 {
                var row = [Float](repeating: 0, count: info.rowLength)
                try row.withUnsafeMutableBufferPointer { try file.dequantizeRows(of: info, start: 1, count: 1, into: $0.baseAddress!) }
                #expect(row.map(\.bitPattern) == values[info.rowLength..<(2 * info.rowLength)].map(\.bitPattern))
            }
            if [.f32, .f16, .bf16].contains(info.type) {
                let tensor = try file.floatTensor(info)
                #expect(tensor.shape == info.dimensions.reversed())
                #expect(tensor.floats().map(\.bitPattern) == values.map(\.bitPattern))
            }
        }
        #expect(file.tensor(named: "cube.3d")?.shape == [2, 3, 4])
        #expect(file.tensor(named: "hyper.4d")?.dimensions == [2, 3, 1, 2])
        #expect(file.tensor(named: "hyper.4d")?.rows == 6)
        #expect(file.tensor(named: "output_norm.weight")?.rows == 1)
        #expect(file.tensor(named: "missing") == nil)
    }

    @Test func valueAccessors() throws {
        let file = try GGUFFile(path: GGUFFixtures.validV3)
        let m = file.metadata
        #expect(m["test.uint8"]?.integer == 200 && m["test.int8"]?.integer == -100)
        #expect(m["test.uint32"]?.integer == 4_000_000_000 && m["test.int64.min"]?.integer == Int.min)
        #expect(m["test.uint64.max"]?.integer == nil, "does not fit Int")
        #expect(m["test.uint64.max"]?.double == 18446744073709551615.0)
        #expect(m["test.uint64.small"]?.integer == 42)
        #expect(m["test.float32"]?.double == Double(Float(3.1415927)) && m["test.float32"]?.integer == nil)
        #expect(m["test.float32.nan"]?.double?.isNaN == true)
        #expect(m["test.float64"]?.double == 1.0000000000000002e300)
        #expect(m["test.int16"]?.double == -30000)
        #expect(m["test.bool.true"]?.bool == true && m["test.bool.false"]?.bool == false && m["test.uint8"]?.bool == nil)
        #expect(m["test.string"]?.string == "héllo wörld 🚀 日本語 \u{0} Ġ" && m["test.string.empty"]?.string == "")
        #expect(m["ünïcödé.kéy.🔑"]?.string == "value")
        #expect(m["test.array.string"]?.strings == ["a", "", "ß", "🚀🚀"])
        #expect(m["test.array.int32"]?.integers == [1, -2, 3] && m["test.array.uint8"]?.integers == [0, 1, 255])
        #expect(m["test.array.uint64"]?.integers == nil, "2^64-1 does not fit Int")
        #expect(m["test.array.int64"]?.integers == [Int.min, Int.max])
        #expect(m["test.array.float32"]?.floats == [0.5, -1.25, .leastNonzeroMagnitude])
        #expect(m["test.array.float64"]?.floats == [2.5, Float(-1e-300)])
        #expect(m["test.array.int16"]?.floats == [-32768, 32767])
        #expect(m["test.array.string"]?.floats == nil && m["test.array.bool"]?.integers == nil)
        #expect(m["test.array.empty.int32"]?.integers == [] && m["test.array.empty.string"]?.strings == [])
        #expect(m["test.array.nested"]?.strings == nil && m["test.array.nested"]?.array?.count == 3)
        #expect(m["test.array.nested"]?.array?[2].integers == [5, 6])
        #expect(m["test.string"]?.strings == nil && m["test.string"]?.type == .string)
        #expect(try file.requiredInteger("test.uint16") == 60000)
        #expect(try file.requiredDouble("test.float64.subnormal") == .leastNonzeroMagnitude)
        #expect(try file.requiredString("general.architecture") == "qwen3")
        #expect(throws: ModelFormatError.invalidMetadata(path: file.path, key: "nope", reason: "missing")) { try file.requiredInteger("nope") }
        #expect(throws: ModelFormatError.invalidMetadata(path: file.path, key: "test.string", reason: "is STRING, expected an integer")) {
            try file.requiredInteger("test.string")
        }
        #expect(throws: ModelFormatError.invalidMetadata(path: file.path, key: "test.array.nested", reason: "is an array of ARRAY, expected a string")) {
            try file.requiredString("test.array.nested")
        }
        // Equality is bitwise: NaN equals itself, -0 differs from +0, strings compare byte for byte.
        #expect(GGUFValue.float32(.nan) == .float32(.nan) && GGUFValue.float32(-0.0) != .float32(0.0))
        #expect(GGUFValue.string("\u{E9}") != .string("e\u{301}"))
        #expect(GGUFValue.array(.int32, []) != .array(.uint8, []))
    }

    /// IQ2_XXS parses (the file is valid) but cannot be used; Q4_K is not a float tensor.
    @Test func unsupportedTypesAreReportedWhenUsed() throws {
        let file = try GGUFFile(path: GGUFFixtures.validV3)
        let iq = try #require(file.tensor(named: "blk.0.iq2_xxs"))
        #expect(iq.type == .iq2_XXS && iq.byteCount == 132)
        let expectedError = ModelFormatError.unsupportedTensorType(path: file.path, tensor: "blk.0.iq2_xxs", type: "IQ2_XXS")
        #expect(throws: expectedError) { try file.floatTensor(iq) }
        #expect(throws: expectedError) { try file.floats(of: iq) }
        var row = [Float](repeating: 0, count: 256)
        #expect(throws: expectedError) { try file.dequantizeRows(of: iq, start: 0, count: 1, into: &row) }
        #expect(expectedError.localizedDescription == "tensor \"blk.0.iq2_xxs\" in \(file.path) has type IQ2_XXS, which is not supported (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16)")

        let q4 = try #require(file.tensor(named: "blk.0.q4_k"))
        #expect(throws: ModelFormatError.unsupportedDataType(path: file.path, tensor: "blk.0.q4_k", dataType: "Q4_K")) { try file.floatTensor(q4) }
        // Rows outside the tensor, and infos from elsewhere, are errors, not crashes.
        #expect(throws: ModelFormatError.self) { try file.dequantizeRows(of: q4, start: 2, count: 1, into: &row) }
        #expect(throws: ModelFormatError.self) { try file.dequantizeRows(of: q4, start: -1, count: 1, into: &row) }
        #expect(throws: ModelFormatError.self) { try file.dequantizeRows(of: q4, start: 1, count: Int.max, into: &row) }
        let forged = GGUFTensorInfo(name: q4.name, type: .q4_K, dimensions: [512, 2000], offset: q4.offset, byteCount: 144 * 2 * 2000)
        #expect(throws: ModelFormatError.self) { try file.dequantizeRows(of: forged, start: 1999, count: 1, into: &row) }
        try file.dequantizeRows(of: q4, start: 1, count: 0, into: &row)
    }

    @Test func versionsOtherThanTwoAndThreeAreRefused() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.validV3)))
        for (version, fragment) in [(UInt32(1), "GGUF version 1 is not supported"), (4, "GGUF version 4 is not supported"),
                                    (0, "version 0"), (0x0300_0000, "big-endian GGUF (version 3)"), (0x0200_0000, "big-endian")] {
            var bytes = original
            bytes.replaceSubrange(4..<8, with: GGUFBuilder.u32(version))
            let message = try ggufRejection(bytes)
            #expect(message?.contains(fragment) == true, "\(message ?? "accepted")")
            #expect(message?.hasPrefix("unsupported GGUF file") == true)
        }
    }

    /// Every tensor of every llama.cpp-written file (converter + quantizer, Q2_K … Q8_0, F16) dequantizes
    /// to the same bits as `gguf.quants.dequantize`.
    @Test func llamaCppFilesDequantizeLikePython() throws {
        let expected = try GGUFFixtures.json("llama-files.json") as! [String: [String: Any]]
        #expect(expected.count == 13)
        var tensorCount = 0, valueCount = 0
        for (name, entry) in expected.sorted(by: { $0.key < $1.key }) {
            let file = try GGUFFile(path: GGUFFixtures.llamaDirectory.appendingPathComponent(name).path)
            #expect(file.metadata.count == entry["metadata_count"] as! Int)
            #expect(file.alignment == entry["alignment"] as! Int)
            let tensors = entry["tensors"] as! [[String: Any]]
            #expect(file.tensors.map(\.name) == tensors.map { $0["name"] as! String })
            for (info, tensor) in zip(file.tensors, tensors) {
                #expect(info.type.name == tensor["type"] as! String)
                #expect(info.dimensions == tensor["dimensions"] as! [Int])
                #expect(info.offset == tensor["offset"] as! Int)
                let values = try file.floats(of: info)
                #expect(String(checksum(values)) == tensor["checksum"] as! String, "\(name): \(info.name) (\(info.type.name))")
                tensorCount += 1
                valueCount += values.count
            }
            let tokenizer = try file.tokenizerMetadata()
            #expect(tokenizer.model == "gpt2" && tokenizer.preTokenizer == "qwen2")
            #expect(tokenizer.tokens.count == 1024 && tokenizer.tokenTypes.count == 1024 && tokenizer.merges.count == 763)
            #expect(tokenizer.eosTokenID == 1019 && tokenizer.paddingTokenID == 1019 && tokenizer.bosTokenID == 1019)
            #expect(tokenizer.addEOS && !tokenizer.addBOS)
        }
        print("GGUF llama.cpp files: \(expected.count) files, \(tensorCount) tensors, \(valueCount) values identical to gguf.quants.dequantize")
    }

    @Test func tokenizerMetadataTypesAreChecked() throws {
        var builder = GGUFBuilder()
        builder.add("tokenizer.ggml.model", .string("gpt2"))
        let noTokens = try writeGGUF(builder.bytes())
        #expect(throws: ModelFormatError.invalidMetadata(path: noTokens, key: "tokenizer.ggml.tokens", reason: "missing")) {
            try GGUFFile(path: noTokens).tokenizerMetadata()
        }
        builder.add("tokenizer.ggml.tokens", .array(.string, [.string("a"), .string("b")]))
        builder.add("tokenizer.ggml.token_type", .array(.int32, [.int32(1)]))
        let shortTypes = try writeGGUF(builder.bytes())
        #expect(throws: ModelFormatError.invalidMetadata(path: shortTypes, key: "tokenizer.ggml.token_type", reason: "has 1 entries for 2 tokens")) {
            try GGUFFile(path: shortTypes).tokenizerMetadata()
        }
        builder.metadata.removeLast()
        builder.add("tokenizer.ggml.eos_token_id", .string("1"))
        let stringID = try writeGGUF(builder.bytes())
        #expect(throws: ModelFormatError.invalidMetadata(path: stringID, key: "tokenizer.ggml.eos_token_id", reason: "is STRING, expected an integer")) {
            try GGUFFile(path: stringID).tokenizerMetadata()
        }
        builder.metadata.removeLast()
        builder.add("tokenizer.ggml.eos_token_id", .int32(1))
        builder.add("tokenizer.ggml.add_eos_token", .bool(true))
        let metadata = try GGUFFile(path: writeGGUF(builder.bytes())).tokenizerMetadata()
        #expect(metadata.tokens == ["a", "b"] && metadata.tokenTypes.isEmpty && metadata.merges.isEmpty)
        #expect(metadata.eosTokenID == 1 && metadata.addEOS && metadata.bosTokenID == nil && metadata.preTokenizer == "")
    }
}
