import Foundation
import ModelFormats
import Testing
@testable import Server

@Suite("Request decoding")
struct RequestDecodingTests {
    struct Options: Decodable {
        var name: String?
        var count: Int?
        var flag: Bool?
        var nested: Nested?
        var list: [Int]?

        struct Nested: Decodable {
            var required: String
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try RequestDecoder.decode(type, from: try JSONValue.parse(requestBody: Data(text.utf8)))
    }

    /// The 400 message and `param` that decoding `text` throws.
    func failure<T: Decodable>(_ type: T.Type, _ text: String) -> (status: Int, message: String, param: String?)? {
        do {
            _ = try decode(type, text)
            return nil
        } catch let error as APIError {
            return (error.status.code, error.message, error.param)
        } catch {
            return (0, "\(error)", nil)
        }
    }

    @Test("Fields decode; null and absent are both nil")
    func values() throws {
        let options = try decode(Options.self, #"{"name": "a", "count": 3, "flag": true, "nested": {"required": "x"}, "list": [1, 2]}"#)
        #expect(options.name == "a" && options.count == 3 && options.flag == true)
        #expect(options.nested?.required == "x" && options.list == [1, 2])
        let empty = try decode(Options.self, #"{"name": null, "count": null, "unknown": [1, {"x": 2}]}"#)
        #expect(empty.name == nil && empty.count == nil && empty.nested == nil)
    }

    @Test("A wrong type is a 400 naming the field by its path")
    func typeErrors() {
        #expect(failure(Options.self, #"{"name": 5}"#)! == (400, "'name' must be a string", "name"))
        #expect(failure(Options.self, #"{"count": "big"}"#)! == (400, "'count' must be an integer", "count"))
        #expect(failure(Options.self, #"{"flag": 1}"#)! == (400, "'flag' must be a boolean", "flag"))
        #expect(failure(Options.self, #"{"nested": []}"#)! == (400, "'nested' must be an object", "nested"))
        #expect(failure(Options.self, #"{"nested": {"required": 1}}"#)! == (400, "'nested.required' must be a string", "nested.required"))
        #expect(failure(Options.self, #"{"nested": {}}"#)! == (400, "'nested.required' is required", "nested.required"))
        #expect(failure(Options.self, #"{"nested": {"required": null}}"#)! == (400, "'nested.required' is required", "nested.required"))
        #expect(failure(Options.self, #"{"list": [1, "2"]}"#)! == (400, "'list[1]' must be an integer", "list[1]"))
        #expect(failure(Options.self, "[1]")! == (400, "the request body must be a JSON object", nil))
    }

    @Test("Integers are JSON integers as written: 1.0, 1e2 and 2^63 are refused")
    func integers() {
        for text in [#"{"count": 1.0}"#, #"{"count": 1e2}"#, #"{"count": 9223372036854775808}"#, #"{"count": true}"#] {
            #expect(failure(Options.self, text)?.message == "'count' must be an integer", "\(text)")
        }
    }

    @Test("Union-shaped fields report their own shape message with the field's name")
    func shapes() throws {
        struct Inputs: Decodable { var inputs: TEIInputs }
        let mixed = try decode(Inputs.self, #"{"inputs": ["a", [1, 2]]}"#).inputs.items
        #expect(mixed.count == 2)
        if case .tokens(let ids) = mixed[1] { #expect(ids == [1, 2]) } else { Issue.record("not token ids") }
        let message = "'inputs' must be a string, an array of strings, an array of token ids, or an array of arrays of token ids"
        #expect(failure(Inputs.self, #"{"inputs": [[1, 2.5]]}"#)! == (400, message, "inputs"))
        #expect(failure(Inputs.self, #"{"inputs": [true]}"#)! == (400, message, "inputs"))
        #expect(failure(Inputs.self, #"{}"#)! == (400, "'inputs' is required", "inputs"))

        struct Documents: Decodable { var documents: RerankDocuments }
        #expect(try decode(Documents.self, #"{"documents": ["a", {"text": "b"}]}"#).documents.texts == ["a", "b"])
        #expect(failure(Documents.self, #"{"documents": [3]}"#)?.message == #"'documents' must be an array of strings or of {"text": string}"#)
    }

    @Test("Malformed JSON is a 400 naming the byte offset; duplicate keys keep the last value")
    func malformed() throws {
        #expect(failure(Options.self, #"{"name": }"#)?.message == "the request body is not valid JSON: unexpected character at byte 9")
        #expect(try decode(Options.self, #"{"count": 1, "count": 2}"#).count == 2)
    }
}

@Suite("Response encoding")
struct ResponseEncodingTests {
    func text<T: Encodable>(_ value: T) throws -> String { try ResponseEncoder.encodeToString(value) }

    @Test("Floats in Swift's shortest round-trip form, non-finite as null")
    func floats() throws {
        let values: [Float] = [0.1, -0.0, 1, 1e-5, 3.4028235e38, 0.33333334, .nan, .infinity]
        let encoded = try text(values)
        #expect(encoded == "[0.1,-0.0,1.0,1e-05,3.4028235e+38,0.33333334,null,null]", "\(encoded)")
        // The text reads back as the same float32, bit for bit.
        let random = (0..<1000).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0 &* 2_654_435_761) & 0x7F7F_FFFF) }
        let parsed = try text(random).dropFirst().dropLast().split(separator: ",").map { Float(String($0))! }
        #expect(parsed.map(\.bitPattern) == random.map(\.bitPattern))
        #expect(try text([[Float]]([[1.5], []])) == "[[1.5],[]]")
    }

    @Test("Doubles: whole numbers below 10^15 as integers, others in shortest form")
    func doubles() throws {
        let encoded = try text([3.0, -2.0, 0.5, 1e15, 1e16, 0.1 + 0.2, Double.nan])
        #expect(encoded == "[3,-2,0.5,1000000000000000.0,1e+16,0.30000000000000004,null]", "\(encoded)")
        #expect(try text(Double(Float(0.1))) == "0.10000000149011612")
    }

    struct Record: Encodable {
        var zebra = 1
        var alpha: String? = "a\"b\\c\n\u{1}é"
        var missing: Int? = nil
        var middle = [true, false]
    }

    @Test("Objects with sorted keys, nil optionals left out, strings escaped")
    func objects() throws {
        #expect(try text(Record()) == #"{"alpha":"a\"b\\c\n\u0001é","middle":[true,false],"zebra":1}"#)
        #expect(try text(["b": 2, "a": 1]) == #"{"a":1,"b":2}"#)
        #expect(try text(APIError.badRequest("bad", param: nil).body(.openAI))
            == #"{"error":{"code":"400","message":"bad","param":null,"type":"invalid_request_error"}}"#)
        #expect(try text(JSONDocument(try JSONValue.parse(requestBody: Data(#"{"b": [1, 2.5, null], "a": {}}"#.utf8))))
            == #"{"a":{},"b":[1,2.5,null]}"#)
    }

    struct Nested: Encodable {
        func encode(to encoder: any Encoder) throws {
            var outer = encoder.container(keyedBy: NameKey.self)
            var list = outer.nestedUnkeyedContainer(forKey: NameKey("list"))
            try list.encode(1)
            var inner = list.nestedContainer(keyedBy: NameKey.self)
            try list.encode("after")
            try inner.encode(2, forKey: NameKey("late"))
            try outer.encode(0, forKey: NameKey("first"))
        }
    }

    @Test("Nested containers filled after later siblings are written in their place")
    func nestedContainers() throws {
        #expect(try text(Nested()) == #"{"first":0,"list":[1,{"late":2},"after"]}"#)
    }
}
