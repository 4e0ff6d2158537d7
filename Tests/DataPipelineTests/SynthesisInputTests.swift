import DataPipeline
import Foundation
import Testing

@Suite("SynthesisInputs") struct SynthesisInputTests {
    private func file(_ text: String, _ name: String = "input.jsonl") -> String {
        let path = scratchDirectory().appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test("documents: ours with or without ids, and a BEIR corpus with titles")
    func documentShapes() throws {
        let ours = try SourceDocuments.read(file: URL(fileURLWithPath: file("{\"id\": \"a\", \"text\": \"alpha\"}\n\n{\"text\": \"beta\"}\n{\"id\": 7, \"text\": \"gamma\"}\n")))
        #expect(ours == [SourceDocument(id: "a", text: "alpha"), SourceDocument(id: "line-3", text: "beta"), SourceDocument(id: "7", text: "gamma")])
        let beir = try SourceDocuments.read(file: URL(fileURLWithPath: file("{\"_id\": \"d1\", \"title\": \"Title\", \"text\": \"body\"}\n{\"_id\": \"d2\", \"title\": \"\", \"text\": \"only body\"}\n")))
        #expect(beir == [SourceDocument(id: "d1", text: "Title body"), SourceDocument(id: "d2", text: "only body")])
    }

    @Test("bad documents files are errors naming the file and line")
    func badDocuments() throws {
        let duplicate = file("{\"id\": \"a\", \"text\": \"x\"}\n{\"id\": \"a\", \"text\": \"y\"}\n")
        #expect(throws: SourceDocumentError(path: duplicate, line: 2, reason: "duplicate document id \"a\" (first on line 1); ids must be unique for resume")) {
            try SourceDocuments.read(file: URL(fileURLWithPath: duplicate))
        }
        let noText = file("{\"id\": \"a\"}\n")
        #expect(throws: SourceDocumentError(path: noText, line: 1, reason: "missing \"text\" (a string)")) { try SourceDocuments.read(file: URL(fileURLWithPath: noText)) }
        let notJSON = file("{\"text\": \"fine\"}\nnot json\n")
        #expect((try? SourceDocuments.read(file: URL(fileURLWithPath: notJSON))) == nil)
        #expect(throws: SourceDocumentError.self) { try SourceDocuments.read(file: URL(fileURLWithPath: file(""))) }
        #expect(throws: SourceDocumentError.self) { try SourceDocuments.read(file: URL(fileURLWithPath: "/nonexistent/documents.jsonl")) }
    }

    @Test("the shipped templates load from the package resources; --prompt-dir replaces them")
    func templates() throws {
        let shipped = try SynthesisPrompts.load()
        #expect(shipped.configurationTemplate.contains("{{characters}}") && shipped.configurationTemplate.contains("{{document}}"))
        #expect(shipped.queryTemplate.contains("{{language}}") && shipped.queryTemplate.contains("{{length}}"))
        let folder = scratchDirectory()
        try "Pick for {{document}} among {{characters}}".write(to: folder.appendingPathComponent("configuration.txt"), atomically: true, encoding: .utf8)
        try "Write in {{language}} about {{document}} as {{character}}".write(to: folder.appendingPathComponent("query.txt"), atomically: true, encoding: .utf8)
        let custom = try SynthesisPrompts.load(directory: folder)
        let plan = QueryPlan(candidates: ["a cook", "a pilot"], length: 5, language: "French")
        // A document containing braces is left as it is (one-pass rendering).
        #expect(custom.configurationPrompt(document: "text {{language}}", plan: plan) == "Pick for text {{language}} among - a cook\n- a pilot")
        let configuration = QueryConfiguration(character: "a pilot", questionType: .yesOrNo, difficulty: .phd, length: 5, language: "French")
        #expect(custom.queryPrompt(document: "doc", configuration: configuration) == "Write in French about doc as a pilot")
        try "no placeholder".write(to: folder.appendingPathComponent("query.txt"), atomically: true, encoding: .utf8)
        #expect(throws: SynthesisError.invalidOption("the prompt template query.txt has no {{document}} placeholder")) {
            try SynthesisPrompts.load(directory: folder)
        }
        #expect(throws: SynthesisError.self) { try SynthesisPrompts.load(directory: URL(fileURLWithPath: "/nonexistent")) }
    }

    @Test("answers are checked against the schema")
    func answerValidation() {
        let plan = QueryPlan(candidates: ["a cook", "a pilot"], length: 5, language: "English")
        let good = SynthesisPrompts.parseConfiguration(#"{"character": "A Pilot", "question_type": "background", "difficulty": "phd"}"#, plan: plan)
        #expect((try? good.get()) == QueryConfiguration(character: "a pilot", questionType: .background, difficulty: .phd, length: 5, language: "English"))
        // A code fence around the object is accepted; a character not offered, an unknown type, prose are not.
        #expect((try? SynthesisPrompts.parseConfiguration("```json\n{\"character\": \"a cook\", \"question_type\": \"keywords\", \"difficulty\": \"high_school\"}\n```", plan: plan).get()) != nil)
        #expect((try? SynthesisPrompts.parseConfiguration(#"{"character": "a king", "question_type": "keywords", "difficulty": "phd"}"#, plan: plan).get()) == nil)
        #expect((try? SynthesisPrompts.parseConfiguration(#"{"character": "a cook", "question_type": "riddle", "difficulty": "phd"}"#, plan: plan).get()) == nil)
        #expect((try? SynthesisPrompts.parseConfiguration("I choose the cook.", plan: plan).get()) == nil)
        #expect((try? SynthesisPrompts.parseQuery(#"{"query": "  how do planes fly?  "}"#).get()) == "how do planes fly?")
        #expect((try? SynthesisPrompts.parseQuery(#"{"query": "   "}"#).get()) == nil)
        #expect((try? SynthesisPrompts.parseQuery(#"{"query": 3}"#).get()) == nil)
    }

    @Test("resume reads finished queries, cuts a torn last line, and refuses a foreign file")
    func resumeScan() throws {
        let line = #"{"query":"q","positive":"p","negatives":[],"document_id":"d","query_index":1,"configuration":{},"model":"m"}"#
        let path = file(line + "\n" + #"{"query":"q2","posi"#)
        #expect(try SynthesisResume.finishedQueries(in: URL(fileURLWithPath: path)) == [QueryKey(documentID: "d", queryIndex: 1)])
        #expect(String(data: FileManager.default.contents(atPath: path)!, encoding: .utf8) == line + "\n")
        let onlyTorn = file(#"{"query":"#)
        #expect(try SynthesisResume.finishedQueries(in: URL(fileURLWithPath: onlyTorn)).isEmpty)
        #expect(FileManager.default.contents(atPath: onlyTorn)?.isEmpty == true)
        let foreign = file("{\"query\": \"q\", \"positive\": \"p\"}\n")
        #expect(throws: SynthesisError.self) { try SynthesisResume.finishedQueries(in: URL(fileURLWithPath: foreign)) }
        #expect(try SynthesisResume.finishedQueries(in: URL(fileURLWithPath: "/nonexistent/out.jsonl")).isEmpty)
    }

    @Test("an output line has the training fields first and decodes back to the same example")
    func outputLine() throws {
        let example = SynthesizedExample(
            query: "how do \"planes\" fly?", positive: "Wings make lift.\nEngines push.", documentID: "d/1", queryIndex: 2,
            configuration: QueryConfiguration(character: "a pilot", questionType: .acquireKnowledge, difficulty: .university,
                                              length: 8, language: "English"),
            model: "qwen")
        let line = try example.jsonLine()
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix(#"{"query":"how do \"planes\" fly?","positive":"Wings make lift.\nEngines push.","negatives":[],"document_id":"d/1","query_index":2,"configuration":{"#))
        #expect(!line.contains(UInt8(ascii: "\n")))
        #expect(try JSONDecoder().decode(SynthesizedExample.self, from: line) == example)
    }

    @Test("back-off doubles up to its cap; Retry-After takes seconds or an HTTP date")
    func backOff() throws {
        let policy = RetryPolicy(retries: 5, initialDelay: .milliseconds(500), maximumDelay: .seconds(3))
        #expect((1...5).map { policy.delay(attempt: $0) } == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(3), .seconds(3)])
        #expect(ChatClient.retryAfter("2") == .seconds(2))
        #expect(ChatClient.retryAfter("0.5") == .milliseconds(500))
        #expect(ChatClient.retryAfter("soon") == nil)
        #expect(ChatClient.retryAfter("Thu, 01 Jan 1970 00:00:00 GMT") == .zero)
    }
}
