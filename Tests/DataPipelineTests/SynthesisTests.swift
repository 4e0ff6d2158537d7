import AsyncHTTPClient
import DataPipeline
import Evaluation
import Foundation
import Testing
import Training

/// A scratch folder per test.
func scratchDirectory(_ name: String = #function) -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("synthesis-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes `texts` as a documents file `{"id": "doc-i", "text": …}`.
func writeDocuments(_ texts: [String], in folder: URL) -> String {
    let path = folder.appendingPathComponent("documents.jsonl").path
    let lines = texts.enumerated().map { index, text in
        String(data: try! JSONSerialization.data(withJSONObject: ["id": "doc-\(index)", "text": text]), encoding: .utf8)!
    }
    _ = FileManager.default.createFile(atPath: path, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
    return path
}

/// Distinct documents whose first word names them (the mock quotes the first words in its query).
func sampleDocuments(_ count: Int) -> [String] {
    (0..<count).map { "Document\($0) is about topic \($0): it explains how the \($0)th machine works in detail." }
}

/// The output lines as objects.
func outputLines(_ path: String) -> [[String: Any]] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    return data.split(separator: UInt8(ascii: "\n")).map { (try! JSONSerialization.jsonObject(with: Data($0))) as! [String: Any] }
}

/// A runner against `endpoint` with test-sized back-offs (no test waits on a real back-off).
func makeRunner(endpoint: String, documents: String, output: String, seed: UInt64 = 7, concurrency: Int = 2,
                queriesPerDocument: Int = 1, retries: Int = 3, answerRetries: Int = 2, timeout: Duration = .seconds(600),
                rate: Double? = nil, style: ResponseFormatStyle = .jsonSchema, languages: [String] = ["English", "German", "Chinese"],
                http: HTTPClient) throws -> SynthesisRunner {
    let client = try ChatClient(endpoint: endpoint, apiKey: "test-key", timeout: timeout,
                                retry: RetryPolicy(retries: retries, initialDelay: .milliseconds(1), maximumDelay: .milliseconds(4)),
                                maxRequestsPerSecond: rate, http: http)
    let sampler = try QuerySampler(languages: languages, seed: seed)
    let options = SynthesisOptions(documents: URL(fileURLWithPath: documents), output: URL(fileURLWithPath: output), llm: "mock-llm",
                                   queriesPerDocument: queriesPerDocument, concurrency: concurrency,
                                   responseFormat: style, answerRetries: answerRetries)
    return try SynthesisRunner(options: options, sampler: sampler, prompts: try SynthesisPrompts.load(), client: client)
}

/// Runs `body` with an HTTP client that is shut down afterwards.
@discardableResult
func withHTTPClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    // A short connect time-out: a refused connection is retried by the pool until it expires (10 s by
    // default), which only slows the endpoint-down test; nothing else waits on connecting.
    var configuration = HTTPClient.Configuration()
    configuration.timeout.connect = .milliseconds(500)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(http)
        try await http.shutdown()
        return result
    } catch {
        try? await http.shutdown()
        throw error
    }
}

@Suite("Synthesis") struct SynthesisTests {
    @Test("both steps are sent with their strict JSON schema, and the output is training data")
    func twoStepsWithSchema() async throws {
        let folder = scratchDirectory()
        let texts = sampleDocuments(3)
        let documents = writeDocuments(texts, in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        let requests = try await MockChatServer.with { server in
            try await withHTTPClient { http in
                let summary = try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, http: http).run()
                #expect(summary.written == 3 && summary.failed == 0 && summary.total == 3 && summary.requests == 6)
            }
            return await server.requests()
        }
        #expect(requests.count == 6)
        #expect(requests.allSatisfy { $0.authorization == "Bearer test-key" })
        let sampler = try QuerySampler(languages: ["English", "German", "Chinese"], seed: 7)
        for (index, text) in texts.enumerated() {
            let mine = requests.filter { $0.prompt.contains(text) }
            #expect(mine.count == 2)
            let plan = sampler.plan(documentID: "doc-\(index)", index: 0)
            guard let first = mine.first(where: \.isConfigurationStep), let second = mine.first(where: { !$0.isConfigurationStep }) else {
                Issue.record("document \(index): a step is missing")
                continue
            }
            // Step 1: strict json_schema, the seeded candidates as the character enum, the fixed enums.
            #expect(first.responseFormat["type"] as? String == "json_schema")
            #expect((first.responseFormat["json_schema"] as? [String: Any])?["strict"] as? Bool == true)
            #expect(first.schemaName == "query_configuration")
            #expect(first.candidates == plan.candidates)
            let properties = first.schema["properties"] as? [String: Any] ?? [:]
            #expect((properties["question_type"] as? [String: Any])?["enum"] as? [String]
                    == ["keywords", "acquire_knowledge", "summary", "yes_or_no", "background"])
            #expect((properties["difficulty"] as? [String: Any])?["enum"] as? [String] == ["high_school", "university", "phd"])
            #expect(first.schema["required"] as? [String] == ["character", "question_type", "difficulty"])
            #expect(first.schema["additionalProperties"] as? Bool == false)
            #expect(first.object["model"] as? String == "mock-llm")
            for candidate in plan.candidates { #expect(first.prompt.contains("- \(candidate)")) }
            // Step 2: the chosen configuration and the seeded length and language in the prompt.
            #expect(second.schemaName == "generated_query")
            #expect((second.responseFormat["json_schema"] as? [String: Any])?["strict"] as? Bool == true)
            #expect(((second.schema["properties"] as? [String: Any])?["query"] as? [String: Any])?["type"] as? String == "string")
            #expect(second.prompt.contains("**Character**: \(plan.candidates[0])"))
            #expect(second.prompt.contains("Language: \(plan.language)."))
            #expect(second.prompt.contains("about \(plan.length) words"))
            #expect(second.prompt.contains("Type: summary") && second.prompt.contains("Difficulty: university"))
            // Step 2 comes after step 1 (it needs its answer).
            #expect(first.number < second.number)
        }
        // Each line: a training example plus provenance.
        let lines = outputLines(output)
        #expect(lines.count == 3)
        for line in lines {
            let id = line["document_id"] as? String ?? ""
            let index = Int(id.dropFirst(4)) ?? -1
            #expect(line["positive"] as? String == texts[index])
            #expect((line["query"] as? String)?.hasPrefix("what does Document\(index) ") == true)
            #expect((line["negatives"] as? [Any])?.isEmpty == true)
            #expect(line["model"] as? String == "mock-llm")
            #expect(line["query_index"] as? Int == 0)
            let configuration = line["configuration"] as? [String: Any] ?? [:]
            let plan = sampler.plan(documentID: id, index: 0)
            #expect(configuration["character"] as? String == plan.candidates[0])
            #expect(configuration["question_type"] as? String == "summary")
            #expect(configuration["difficulty"] as? String == "university")
            #expect(configuration["language"] as? String == plan.language)
            #expect(configuration["length"] as? Int == plan.length)
        }
        // The trainer's own reader takes the file as it is.
        let dataset = try TrainingDataset(file: URL(fileURLWithPath: output))
        #expect(dataset.count == 3)
        #expect(Set(dataset.examples.map(\.positive)) == Set(texts))
    }

    @Test("json-object style sends the schema the way llama-cpp-python's server takes it")
    func jsonObjectStyle() async throws {
        let folder = scratchDirectory()
        let documents = writeDocuments(sampleDocuments(1), in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        let requests = try await MockChatServer.with { server in
            try await withHTTPClient { http in
                try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, style: .jsonObject, http: http).run()
            }
            return await server.requests()
        }
        #expect(requests.count == 2)
        for request in requests {
            #expect(request.responseFormat["type"] as? String == "json_object")
            #expect(request.responseFormat["json_schema"] == nil)
            #expect(request.schema["type"] as? String == "object")
        }
        #expect(requests.first { !$0.isConfigurationStep }.map { (($0.schema["properties"] as? [String: Any])?["query"] as? [String: Any])?["maxLength"] as? Int } == 1000)
        #expect(outputLines(output).count == 1)
    }

    @Test("the configuration is drawn with the seed, per document, whatever the concurrency")
    func seededConfiguration() async throws {
        let a = try QuerySampler(languages: ["English", "German", "Chinese", "French"], seed: 42)
        let b = try QuerySampler(languages: ["English", "German", "Chinese", "French"], seed: 42)
        let c = try QuerySampler(languages: ["English", "German", "Chinese", "French"], seed: 43)
        let ids = (0..<40).map { "doc-\($0)" }
        let plansA = ids.flatMap { id in (0..<2).map { a.plan(documentID: id, index: $0) } }
        #expect(plansA == ids.flatMap { id in (0..<2).map { b.plan(documentID: id, index: $0) } })
        #expect(plansA != ids.flatMap { id in (0..<2).map { c.plan(documentID: id, index: $0) } })
        // The draws vary (not one constant plan) and candidates are distinct personas of the list.
        #expect(Set(plansA.map(\.language)).count > 1 && Set(plansA.map(\.length)).count > 1)
        #expect(Set(plansA.map(\.candidates)).count > 1)
        for plan in plansA {
            #expect(plan.candidates.count == 3 && Set(plan.candidates).count == 3)
            #expect(plan.candidates.allSatisfy(QuerySampler.defaultPersonas.contains))
        }
        // A document's plan does not depend on the documents around it or on the order queries finish.
        let folder = scratchDirectory()
        let documents = writeDocuments(sampleDocuments(8), in: folder)
        var configurations: [[String: String]] = []
        for (concurrency, name) in [(1, "serial.jsonl"), (6, "parallel.jsonl")] {
            let output = folder.appendingPathComponent(name).path
            try await MockChatServer.with { server in
                try await withHTTPClient { http in
                    try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, seed: 42,
                                         concurrency: concurrency, queriesPerDocument: 2, http: http).run()
                }
            }
            var byQuery: [String: String] = [:]
            for line in outputLines(output) {
                let key = "\(line["document_id"]!)#\(line["query_index"]!)"
                byQuery[key] = String(data: try JSONSerialization.data(withJSONObject: line["configuration"]!, options: .sortedKeys), encoding: .utf8)
            }
            #expect(byQuery.count == 16)
            configurations.append(byQuery)
        }
        #expect(configurations[0] == configurations[1])
    }

    @Test("429 (with Retry-After), 500 and a time-out are retried")
    func retriesTransientFailures() async throws {
        let folder = scratchDirectory()
        let documents = writeDocuments(sampleDocuments(1), in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        let requests = try await MockChatServer.with({ request in
            switch request.number {
            case 1: return .error(429, "slow down", headers: ["Retry-After": "0"])
            case 2: return .error(500, "internal error")
            case 3: return MockReply(body: "", hang: true)
            case 4: return .error(503, "overloaded")
            default: return .valid(for: request)
            }
        }) { server in
            try await withHTTPClient { http in
                // Spare retries: on a very loaded machine an answered request could also outlast the
                // time-out, which must cost a retry, not the test.
                let summary = try await makeRunner(endpoint: server.endpoint, documents: documents, output: output,
                                                   retries: 10, timeout: .seconds(1), http: http).run()
                let received = await server.requests().count
                #expect(summary.written == 1 && summary.failed == 0 && summary.requests == received)
            }
            return await server.requests()
        }
        // Four failed attempts of step 1 (429, 500, time-out, 503), then its answer, then step 2: the
        // same step-1 request each time.
        #expect(requests.count >= 6)
        let firstQueryStep = requests.firstIndex { !$0.isConfigurationStep } ?? requests.count
        #expect(firstQueryStep >= 5 && requests[..<firstQueryStep].allSatisfy(\.isConfigurationStep))
        #expect(Set(requests[..<firstQueryStep].map(\.body)).count == 1)
        #expect(requests.last.map { !$0.isConfigurationStep } == true)
        #expect(outputLines(output).count == 1)
    }

    @Test("Retry-After is honoured: the retry waits at least as long as the server asked")
    func retryAfterIsHonoured() async throws {
        let folder = scratchDirectory()
        let documents = writeDocuments(sampleDocuments(1), in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        let requests = try await MockChatServer.with({ request in
            request.number == 1 ? .error(429, "slow down", headers: ["Retry-After": "1"]) : .valid(for: request)
        }) { server in
            try await withHTTPClient { http in
                try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, http: http).run()
            }
            return await server.requests()
        }
        #expect(requests.count == 3)
        // A lower bound only: the retry cannot come sooner than the second asked for (the test back-off is 1 ms).
        #expect(requests[1].arrival - requests[0].arrival >= .seconds(1))
    }

    @Test("a bad answer (not JSON, wrong schema) is asked again, then recorded as a failure; the run goes on")
    func badAnswersRetriedThenRecorded() async throws {
        let folder = scratchDirectory()
        let texts = sampleDocuments(3)
        let documents = writeDocuments(texts, in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        // Document 0: prose, then a wrong enum value, then a valid step-1 answer (it recovers).
        // Document 1: step 2 never fits its schema (recorded). Document 2: fine.
        let attempts = Counter()
        let seen = try await MockChatServer.with({ request in
            if request.prompt.contains(texts[0]), request.isConfigurationStep {
                switch await attempts.next("doc0") {
                case 1: return .completion("Sure! Here is the configuration you asked for.")
                case 2: return .completion(#"{"character": "\#(request.candidates[0])", "question_type": "riddle", "difficulty": "phd"}"#)
                default: return .valid(for: request)
                }
            }
            if request.prompt.contains(texts[1]), !request.isConfigurationStep {
                return .completion(#"{"answer": "no query here"}"#)
            }
            return .valid(for: request)
        }) { server in
            try await withHTTPClient { http in
                let summary = try await makeRunner(endpoint: server.endpoint, documents: documents, output: output,
                                                   concurrency: 1, answerRetries: 2, http: http).run()
                #expect(summary.written == 2 && summary.failed == 1 && summary.done == 3)
            }
            return await server.requests()
        }
        // doc 0: 3 step-1 answers + 1 step-2; doc 1: 1 + 3 (all bad); doc 2: 2.
        #expect(seen.count == 10)
        #expect(seen.filter { $0.prompt.contains(texts[1]) && !$0.isConfigurationStep }.count == 3)
        let lines = outputLines(output)
        #expect(Set(lines.compactMap { $0["document_id"] as? String }) == ["doc-0", "doc-2"])
        let failures = outputLines(output + ".failures.jsonl")
        #expect(failures.count == 1)
        #expect(failures.first?["document_id"] as? String == "doc-1")
        #expect(failures.first?["step"] as? String == "query")
        #expect(failures.first?["attempts"] as? Int == 3)
        #expect((failures.first?["reason"] as? String)?.contains("query") == true)
        // A rerun asks again for the failed query only (recorded failures are not "done").
        let rerun = try await MockChatServer.with { server in
            try await withHTTPClient { http in
                try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, http: http).run()
            }
            return await server.requests()
        }
        #expect(rerun.count == 2 && rerun.allSatisfy { $0.prompt.contains(texts[1]) })
        #expect(outputLines(output).count == 3)
    }

    @Test("resume after a torn last line: nothing lost, nothing done twice")
    func resumeAfterTornLine() async throws {
        let folder = scratchDirectory()
        let texts = sampleDocuments(5)
        let documents = writeDocuments(texts, in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        try await MockChatServer.with { server in
            try await withHTTPClient { http in
                try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 1, http: http).run()
            }
        }
        // What a kill in the middle of the third write leaves: two lines and half of the third.
        let full = FileManager.default.contents(atPath: output)!
        let lines = full.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var torn = Data(lines[0] + [UInt8(ascii: "\n")] + lines[1] + [UInt8(ascii: "\n")])
        torn.append(Data(lines[2].prefix(lines[2].count / 2)))
        try torn.write(to: URL(fileURLWithPath: output))
        let keptIDs = [lines[0], lines[1]].map { (try! JSONSerialization.jsonObject(with: Data($0)) as! [String: Any])["document_id"] as! String }
        let requests = try await MockChatServer.with { server in
            try await withHTTPClient { http in
                let summary = try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 3, http: http).run()
                #expect(summary.alreadyDone == 2 && summary.written == 3)
            }
            return await server.requests()
        }
        // Only the three unfinished documents were asked for, two calls each.
        #expect(requests.count == 6)
        for id in keptIDs {
            let text = texts[Int(id.dropFirst(4))!]
            #expect(!requests.contains { $0.prompt.contains(text) })
        }
        let ids = outputLines(output).compactMap { $0["document_id"] as? String }
        #expect(ids.count == 5 && Set(ids) == Set((0..<5).map { "doc-\($0)" }))
        #expect(try TrainingDataset(file: URL(fileURLWithPath: output)).count == 5)
    }

    @Test("resume after the run is stopped in the middle: nothing lost, nothing done twice")
    func resumeAfterStop() async throws {
        let folder = scratchDirectory()
        let texts = sampleDocuments(6)
        let documents = writeDocuments(texts, in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        // Requests for documents 3 and later hang, so the run is stopped with work in flight.
        let stuck = Set(texts[3...])
        let firstRun = try await MockChatServer.with({ request in
            stuck.contains { request.prompt.contains($0) } ? MockReply(body: "", hang: true) : .valid(for: request)
        }) { server in
            try await withHTTPClient { http in
                let runner = try makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 2,
                                            queriesPerDocument: 2, http: http)
                let task = Task { try await runner.run() }
                // 3 documents × 2 queries × 2 steps answered, and both workers stuck on document 3.
                await server.waitForRequests(14)
                task.cancel()
                let result = await task.result
                #expect(throws: CancellationError.self) { try result.get() }
            }
            return await server.requests()
        }
        #expect(firstRun.count == 14)
        #expect(outputLines(output).count == 6)
        let rerun = try await MockChatServer.with { server in
            try await withHTTPClient { http in
                let summary = try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 4,
                                                   queriesPerDocument: 2, http: http).run()
                #expect(summary.alreadyDone == 6 && summary.written == 6)
            }
            return await server.requests()
        }
        #expect(rerun.count == 12)
        #expect(rerun.allSatisfy { request in stuck.contains { request.prompt.contains($0) } })
        let keys = outputLines(output).map { "\($0["document_id"]!)#\($0["query_index"]!)" }
        #expect(keys.count == 12 && Set(keys).count == 12)
    }

    @Test("the request rate is bounded over all workers")
    func rateLimit() async throws {
        let folder = scratchDirectory()
        let documents = writeDocuments(sampleDocuments(5), in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        let rate = 20.0
        let started = ContinuousClock.now
        let requests = try await MockChatServer.with { server in
            try await withHTTPClient { http in
                try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 5,
                                     rate: rate, http: http).run()
            }
            return await server.requests()
        }
        #expect(requests.count == 10)
        // Request k cannot leave before started + k/rate: a lower bound a slow machine only makes larger.
        let last = requests.map(\.arrival).max()!
        #expect(last - started >= .milliseconds(Int64(1000 * Double(requests.count - 1) / rate)))
    }

    @Test("an endpoint that is down stops the run with an error after the retries, keeping what was done")
    func endpointDown() async throws {
        let folder = scratchDirectory()
        let texts = sampleDocuments(4)
        let documents = writeDocuments(texts, in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        // Serves two documents, then answers 503 to everything.
        let requests = try await MockChatServer.with({ request in
            request.number <= 4 ? .valid(for: request) : .error(503, "down for maintenance")
        }) { server in
            try await withHTTPClient { http in
                let runner = try makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 1,
                                            retries: 2, http: http)
                await #expect(throws: SynthesisError.self) { try await runner.run() }
                do {
                    try await runner.run()
                } catch let error as SynthesisError {
                    guard case .endpointUnavailable(let message) = error else { Issue.record("wrong error \(error)"); return }
                    #expect(message.contains("503") && message.contains("3 attempts"))
                }
            }
            return await server.requests()
        }
        #expect(requests.count == 4 + 3 + 3)
        #expect(outputLines(output).count == 2)
        // Nothing listening at all.
        try await withHTTPClient { http in
            let runner = try makeRunner(endpoint: "http://127.0.0.1:1/v1", documents: documents, output: output, retries: 1, http: http)
            await #expect(throws: SynthesisError.self) { try await runner.run() }
        }
        #expect(outputLines(output).count == 2)
    }

    @Test("a refused key stops the run at once; empty documents are skipped and counted")
    func rejectedAndEmpty() async throws {
        let folder = scratchDirectory()
        let documents = writeDocuments(["First document text here.", "   ", "", "Fourth document text."], in: folder)
        let output = folder.appendingPathComponent("out.jsonl").path
        let requests = try await MockChatServer.with({ _ in .error(401, "invalid api key") }) { server in
            try await withHTTPClient { http in
                let runner = try makeRunner(endpoint: server.endpoint, documents: documents, output: output, concurrency: 1, http: http)
                await #expect(throws: SynthesisError.requestRejected("HTTP 401 from \(server.endpoint)/chat/completions: invalid api key")) {
                    try await runner.run()
                }
            }
            return await server.requests()
        }
        #expect(requests.count == 1)
        try await MockChatServer.with { server in
            try await withHTTPClient { http in
                let summary = try await makeRunner(endpoint: server.endpoint, documents: documents, output: output, http: http).run()
                #expect(summary.documents == 4 && summary.emptyDocuments == 2 && summary.total == 2 && summary.written == 2)
            }
        }
        #expect(Set(outputLines(output).compactMap { $0["document_id"] as? String }) == ["doc-0", "doc-3"])
    }
}

/// Per-key counters for mock behaviours.
actor Counter {
    private var counts: [String: Int] = [:]
    func next(_ key: String) -> Int {
        counts[key, default: 0] += 1
        return counts[key]!
    }
}
