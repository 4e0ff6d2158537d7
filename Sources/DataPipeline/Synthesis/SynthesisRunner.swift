import AsyncHTTPClient
import Foundation
import ModelFormats

/// Everything a synthesis run needs besides the client, the sampler and the prompts.
public struct SynthesisOptions: Sendable {
    /// `--documents`: JSON Lines documents (see `SourceDocuments`).
    public var documentsPath: String
    /// `--output`: the append-only JSON Lines of examples.
    public var outputPath: String
    /// Where queries that failed are recorded (default: the output path + `.failures.jsonl`).
    public var failuresPath: String
    /// `--llm`: the model name sent with every request and written with every example.
    public var llm: String
    /// `--queries-per-document`.
    public var queriesPerDocument: Int
    /// `--concurrency`: queries in flight at once.
    public var concurrency: Int
    /// How the schema is sent.
    public var responseFormat: ResponseFormatStyle
    /// The `maxLength` of the query in the step-2 schema, or nil for none.
    public var maxQueryCharacters: Int?
    /// `temperature` sent with each request, or nil to leave the server's default.
    public var temperature: Double?
    /// `max_tokens` sent with each request, or nil for the server's default.
    public var maxTokens: Int?
    /// How many times a step is asked again when its answer does not fit the schema.
    public var answerRetries: Int

    /// Options with the command's defaults.
    ///
    /// - Parameters:
    ///   - documents: the source documents (JSON Lines).
    ///   - output: the output file, appended to (a rerun resumes).
    ///   - failures: where failed queries are recorded (default: the output's name + `.failures.jsonl`).
    ///   - llm: the model name sent to the endpoint and recorded with each example.
    ///   - queriesPerDocument: queries generated per document.
    ///   - concurrency: requests in flight at once.
    ///   - responseFormat: how the JSON answer shape is asked for.
    ///   - maxQueryCharacters: longer queries are refused and re-asked (`nil`: no limit).
    ///   - temperature: sampling temperature sent to the endpoint (`nil`: the server's default).
    ///   - maxTokens: answer length limit sent to the endpoint (`nil`: the server's default).
    ///   - answerRetries: re-asks of an invalid answer before the query counts as failed.
    public init(documents: URL, output: URL, failures: URL? = nil, llm: String,
                queriesPerDocument: Int = 1, concurrency: Int = 8, responseFormat: ResponseFormatStyle = .jsonSchema,
                maxQueryCharacters: Int? = 1000, temperature: Double? = 0.7, maxTokens: Int? = 512, answerRetries: Int = 3) {
        self.documentsPath = documents.pathAsGiven
        self.outputPath = output.pathAsGiven
        self.failuresPath = failures?.pathAsGiven ?? output.pathAsGiven + ".failures.jsonl"
        self.llm = llm
        self.queriesPerDocument = queriesPerDocument
        self.concurrency = concurrency
        self.responseFormat = responseFormat
        self.maxQueryCharacters = maxQueryCharacters
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.answerRetries = answerRetries
    }
}

/// Counts of a run, reported as it goes and at the end.
public struct SynthesisProgress: Sendable, Equatable {
    /// Documents in the file.
    public var documents = 0
    /// Of those, empty ones (skipped; no query is asked for them).
    public var emptyDocuments = 0
    /// Queries this file asks for: non-empty documents × queries per document.
    public var total = 0
    /// Queries an earlier run already wrote (skipped by resume).
    public var alreadyDone = 0
    /// Queries written by this run.
    public var written = 0
    /// Queries recorded as failures by this run.
    public var failed = 0
    /// HTTP requests sent by this run, retries included.
    public var requests = 0
    /// Time since the run started.
    public var elapsed: Duration = .zero

    /// Queries finished one way or another, including earlier runs'.
    public var done: Int { alreadyDone + written + failed }
    /// Requests per second so far.
    public var requestsPerSecond: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(requests) / seconds : 0
    }
    /// Estimated time left, from this run's pace; nil before anything finished.
    public var remaining: Duration? {
        let finished = written + failed
        guard finished > 0 else { return nil }
        return elapsed * (Double(total - done) / Double(finished))
    }
}

/// `qwen3-embed synthesize`: queries written by an LLM for each document, with the paper's two-step
/// prompt (arXiv 2506.05176, section 3.2).
///
/// For each query of each non-empty document: (1) the configuration call, whose answer picks the
/// character from the seeded candidates, the question type and the difficulty; (2) the query call,
/// with that configuration plus the seeded length and language. Each answer must fit a fixed JSON schema
/// (sent as `response_format`); one that does not is asked again up to `answerRetries` times, then the
/// query is recorded in the failures file and the run goes on. Transport failures are retried by the
/// `ChatClient`; when it gives up the run stops with `SynthesisError.endpointUnavailable`, keeping every
/// line written so far. Lines are appended one query at a time, so a rerun with the same flags skips
/// the queries already written and does the rest (failed ones included).
public struct SynthesisRunner: Sendable {
    /// The run's options.
    public let options: SynthesisOptions
    /// Draws each query's plan.
    public let sampler: QuerySampler
    /// The templates.
    public let prompts: SynthesisPrompts
    /// The chat client.
    public let client: ChatClient

    /// A runner; throws on option values that cannot work.
    public init(options: SynthesisOptions, sampler: QuerySampler, prompts: SynthesisPrompts, client: ChatClient) throws {
        guard options.queriesPerDocument >= 1 else { throw SynthesisError.invalidOption("--queries-per-document must be at least 1") }
        guard options.concurrency >= 1 else { throw SynthesisError.invalidOption("--concurrency must be at least 1") }
        guard options.answerRetries >= 0 else { throw SynthesisError.invalidOption("the answer retry count must be 0 or more") }
        guard !options.llm.isEmpty else { throw SynthesisError.invalidOption("--llm must name the model") }
        if let maxTokens = options.maxTokens, maxTokens < 1 { throw SynthesisError.invalidOption("--max-tokens must be at least 1") }
        self.options = options
        self.sampler = sampler
        self.prompts = prompts
        self.client = client
    }

    /// Runs to the end, calling `progress` at the start and after each finished query.
    @discardableResult
    public func run(progress: @escaping @Sendable (SynthesisProgress) -> Void = { _ in }) async throws -> SynthesisProgress {
        let documents = try SourceDocuments.read(file: URL(fileURLWithPath: options.documentsPath))
        let finished = try SynthesisResume.finishedQueries(in: URL(fileURLWithPath: options.outputPath))
        var pending: [(document: SourceDocument, index: Int)] = []
        var start = SynthesisProgress()
        start.documents = documents.count
        for document in documents {
            if document.isEmpty {
                start.emptyDocuments += 1
                continue
            }
            for index in 0..<options.queriesPerDocument {
                start.total += 1
                if finished.contains(QueryKey(documentID: document.id, queryIndex: index)) {
                    start.alreadyDone += 1
                } else {
                    pending.append((document, index))
                }
            }
        }
        let output = try JSONLinesAppender(file: URL(fileURLWithPath: options.outputPath))
        let failures = try JSONLinesAppender(file: URL(fileURLWithPath: options.failuresPath))
        let tally = Tally(start: start, client: client)
        progress(await tally.snapshot())

        try await withThrowingTaskGroup(of: Bool.self) { group in
            var next = pending.startIndex
            func launch() {
                let (document, index) = pending[next]
                next += 1
                group.addTask { try await self.synthesize(document: document, index: index, output: output, failures: failures) }
            }
            while next < pending.endIndex, next - pending.startIndex < options.concurrency { launch() }
            // The first error (endpoint down, a rejected request, cancellation) ends the loop; leaving
            // the closure cancels the other queries in flight, whose lines were not written.
            while let succeeded = try await group.next() {
                progress(await tally.record(succeeded: succeeded))
                if next < pending.endIndex { launch() }
            }
        }
        return await tally.snapshot()
    }

    /// One query of one document: true when written, false when recorded as a failure.
    func synthesize(document: SourceDocument, index: Int, output: JSONLinesAppender, failures: JSONLinesAppender) async throws -> Bool {
        let plan = sampler.plan(documentID: document.id, index: index)
        func fail(_ step: String, _ reason: String, _ attempts: Int) async throws -> Bool {
            try await failures.append(SynthesisFailure(documentID: document.id, queryIndex: index, step: step,
                                                       reason: reason, attempts: attempts))
            return false
        }
        let configurationAnswer = try await ask(
            step: 0, document: document, index: index, prompt: prompts.configurationPrompt(document: document.text, plan: plan),
            schemaName: "query_configuration", schema: SynthesisPrompts.configurationSchema(candidates: plan.candidates)
        ) { SynthesisPrompts.parseConfiguration($0, plan: plan) }
        let configuration: QueryConfiguration
        switch configurationAnswer {
        case .success(let value): configuration = value
        case .failure(let failure): return try await fail("configuration", failure.reason, failure.attempts)
        }
        let queryAnswer = try await ask(
            step: 1, document: document, index: index, prompt: prompts.queryPrompt(document: document.text, configuration: configuration),
            schemaName: "generated_query", schema: SynthesisPrompts.querySchema(maxLength: options.maxQueryCharacters)
        ) { SynthesisPrompts.parseQuery($0) }
        switch queryAnswer {
        case .success(let query):
            let example = SynthesizedExample(query: query, positive: document.text, negatives: [], documentID: document.id,
                                             queryIndex: index, configuration: configuration, model: options.llm)
            try await output.append(line: example.jsonLine())
            return true
        case .failure(let failure):
            return try await fail("query", failure.reason, failure.attempts)
        }
    }

    /// Why a step gave up on a query.
    struct StepFailure: Error {
        var reason: String
        var attempts: Int
    }

    /// Asks one step until its answer parses, at most `1 + answerRetries` times.
    private func ask<Value>(step: Int, document: SourceDocument, index: Int, prompt: String, schemaName: String,
                            schema: [String: Any], parse: (String) -> Result<Value, AnswerError>) async throws -> Result<Value, StepFailure> {
        var lastReason = ""
        let attempts = 1 + options.answerRetries
        for attempt in 0..<attempts {
            var body: [String: Any] = [
                "model": options.llm,
                "messages": [["role": "user", "content": prompt]],
                "response_format": SynthesisPrompts.responseFormat(name: schemaName, schema: schema, style: options.responseFormat),
                // A different seed per attempt, so a server that honours seeds does not repeat a bad answer.
                "seed": sampler.requestSeed(documentID: document.id, index: index, step: step) &+ attempt,
            ]
            if let temperature = options.temperature { body["temperature"] = temperature }
            if let maxTokens = options.maxTokens { body["max_tokens"] = maxTokens }
            let content: String
            do {
                content = try await client.complete(body)
            } catch let error as ChatCallError {
                switch error {
                case .unavailable(let message):
                    throw SynthesisError.endpointUnavailable(message)
                case .rejected(let status, let message) where [401, 403, 404].contains(status):
                    // The key, the model name or the URL is wrong: every other request would fail too.
                    throw SynthesisError.requestRejected(message)
                case .rejected(_, let message):
                    // A request this document makes bad (too long for the context, say): record it, go on.
                    return .failure(StepFailure(reason: message, attempts: attempt + 1))
                }
            }
            switch parse(content) {
            case .success(let value): return .success(value)
            case .failure(let error): lastReason = error.reason
            }
        }
        return .failure(StepFailure(reason: lastReason, attempts: attempts))
    }
}

/// The run's counts, updated as queries finish.
actor Tally {
    private var progress: SynthesisProgress
    private let started = ContinuousClock.now
    private let client: ChatClient

    init(start: SynthesisProgress, client: ChatClient) {
        progress = start
        self.client = client
    }

    func record(succeeded: Bool) async -> SynthesisProgress {
        if succeeded { progress.written += 1 } else { progress.failed += 1 }
        return await snapshot()
    }

    func snapshot() async -> SynthesisProgress {
        progress.requests = await client.requestsSent()
        progress.elapsed = ContinuousClock.now - started
        return progress
    }
}
