import ArgumentParser
import AsyncHTTPClient
import DataPipeline
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ResponseFormatStyle: ExpressibleByArgument {}

/// `qwen3-embed synthesize`: query–document pairs written by an LLM behind any OpenAI-compatible
/// endpoint, with the paper's two-step prompt; a thin layer over `DataPipeline.SynthesisRunner`.
struct SynthesizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthesize",
        abstract: "Write training queries for documents with an LLM (any OpenAI-compatible chat endpoint).",
        discussion: """
            Per query, two chat calls whose answers must be JSON of a fixed schema (sent as response_format): \
            (1) choose a character (from candidates drawn from --personas with the seed), question type \
            (keywords, acquire_knowledge, summary, yes_or_no, background) and difficulty (high_school, \
            university, phd); (2) write the query, with a length and a language (--languages) drawn with \
            the seed. Each --output line is a training example {"query", "positive", "negatives": []} plus \
            "document_id", "query_index", "configuration" and "model". The output is append-only: rerun \
            the same command to resume (finished queries are skipped, a torn last line is cut off). Queries \
            whose answers never fit the schema go to <output>.failures.jsonl and are retried by a rerun.
            Example:
              qwen3-embed synthesize --endpoint http://localhost:8000/v1 --llm Qwen/Qwen3-32B \\
                  --documents corpus.jsonl --output pairs.jsonl --languages English,Chinese --concurrency 16
            """)

    @Option(help: "OpenAI-compatible base URL (requests go to {URL}/chat/completions), e.g. http://localhost:8000/v1.")
    var endpoint: String
    @Option(help: "The model name sent to the endpoint and recorded with each example.") var llm: String
    @Option(help: "API key (default: the OPENAI_API_KEY environment variable).") var apiKey: String?
    @Option(help: "Documents, JSON Lines {\"id\"?, \"text\"} or a BEIR corpus.jsonl {\"_id\", \"title\", \"text\"}.")
    var documents: String
    @Option(help: "Output JSON Lines (appended to; a rerun resumes).") var output: String
    @Option(help: "Where failed queries are recorded (default: <output>.failures.jsonl).") var failures: String?
    @Option(help: "Personas, one a line (default: a small built-in list).") var personas: String?
    @Option(help: "How many candidate personas the LLM chooses from per query.") var personaCandidates: Int = 3
    @Option(help: "Comma-separated query languages, one drawn per query.") var languages: String = "English"
    @Option(help: "Queries per document.") var queriesPerDocument: Int = 1
    @Option(help: "Seed for every random draw (personas, length, language, request seeds).") var seed: UInt64 = 0
    @Option(help: "Queries in flight at once.") var concurrency: Int = 8
    @Option(help: "Seconds before a request times out (then it is retried).") var timeout: Double = 120
    @Option(help: "Retries of a failed request (429, 5xx, time-out, connection), with exponential back-off.")
    var retries: Int = 5
    @Option(help: "Times a step is asked again when its answer is not JSON of the schema.") var answerRetries: Int = 3
    @Option(help: "At most this many requests per second, over all workers (default: no limit).")
    var maxRequestsPerSecond: Double?
    @Option(help: "json-schema (OpenAI, vLLM, llama-server) or json-object (llama-cpp-python's server).")
    var responseFormat: ResponseFormatStyle = .jsonSchema
    @Option(help: "maxLength of the query in the schema, in characters (0: none).") var maxQueryCharacters: Int = 1000
    @Option(help: "Sampling temperature sent with each request.") var temperature: Double = 0.7
    @Option(help: "max_tokens sent with each request.") var maxTokens: Int = 512
    @Option(help: "A folder with configuration.txt and query.txt replacing the shipped prompt templates.")
    var promptDir: String?

    func run() async throws {
        guard timeout > 0, timeout.isFinite else { throw CommandLineError("--timeout must be positive") }
        guard retries >= 0 else { throw CommandLineError("--retries must be 0 or more") }
        guard maxQueryCharacters >= 0 else { throw CommandLineError("--max-query-characters must be 0 or more") }
        let personaList = try personas.map { try QuerySampler.personas(fromFile: URL(fileURLWithPath: $0)) } ?? QuerySampler.defaultPersonas
        let sampler = try QuerySampler(personas: personaList, languages: languages.split(separator: ",").map(String.init),
                                       candidateCount: personaCandidates, seed: seed)
        let prompts = try SynthesisPrompts.load(directory: promptDir.map { URL(fileURLWithPath: $0) })
        let options = SynthesisOptions(
            documents: URL(fileURLWithPath: documents), output: URL(fileURLWithPath: output),
            failures: failures.map { URL(fileURLWithPath: $0) }, llm: llm,
            queriesPerDocument: queriesPerDocument, concurrency: concurrency, responseFormat: responseFormat,
            maxQueryCharacters: maxQueryCharacters == 0 ? nil : maxQueryCharacters, temperature: temperature,
            maxTokens: maxTokens, answerRetries: answerRetries)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let display = SynthesisDisplay()
        do {
            let client = try ChatClient(
                endpoint: endpoint, apiKey: apiKey ?? ProcessInfo.processInfo.environment["OPENAI_API_KEY"],
                timeout: .milliseconds(Int64(timeout * 1000)), retry: RetryPolicy(retries: retries),
                maxRequestsPerSecond: maxRequestsPerSecond, http: http)
            let runner = try SynthesisRunner(options: options, sampler: sampler, prompts: prompts, client: client)
            let summary = try await runner.run { display.update($0) }
            display.finish(summary, output: output, failuresPath: options.failuresPath)
            try await http.shutdown()
        } catch {
            display.stopped()
            try? await http.shutdown()
            throw error
        }
    }
}

/// The progress display: a bar redrawn in place on a terminal (done/total, failures, requests/s, ETA),
/// otherwise one `qwen3-embed:` line per tenth of the work and a summary at the end.
final class SynthesisDisplay: @unchecked Sendable {
    private let interactive = isatty(2) == 1
    // The runner reports from one task at a time, but this is a class shared with that task: a lock
    // keeps the last-printed state consistent.
    private let lock = NSLock()
    private var lastMilestone = -1
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var latest: SynthesisProgress?

    func update(_ progress: SynthesisProgress) {
        lock.lock()
        defer { lock.unlock() }
        let first = latest == nil
        latest = progress
        if first {
            note("synthesize: \(progress.documents) documents (\(progress.emptyDocuments) empty, skipped), \(progress.total) queries, \(progress.alreadyDone) already in the output")
        }
        guard progress.total > 0 else { return }
        if interactive {
            // At most ten redraws a second: a fast mock server would otherwise flood the terminal.
            let now = ContinuousClock.now
            guard progress.done >= progress.total || now - lastDraw >= .milliseconds(100) else { return }
            lastDraw = now
            let width = 30
            let filled = width * min(progress.done, progress.total) / progress.total
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let eta = progress.remaining.map { "ETA \(Self.format($0))" } ?? "ETA --"
            _ = StandardStreams.writeDiagnostic(String(format: "\rsynthesize [%@] %d/%d  failed %d  %.1f req/s  %@   ",
                                                       bar, progress.done, progress.total, progress.failed,
                                                       progress.requestsPerSecond, eta))
        } else {
            let milestone = 10 * progress.done / progress.total
            guard milestone > lastMilestone else { return }
            lastMilestone = milestone
            note("synthesize: \(progress.done)/\(progress.total) done, \(progress.failed) failed, \(String(format: "%.1f", progress.requestsPerSecond)) req/s"
                 + (progress.remaining.map { ", ETA \(Self.format($0))" } ?? ""))
        }
    }

    func finish(_ progress: SynthesisProgress, output: String, failuresPath: String) {
        lock.lock()
        defer { lock.unlock() }
        if interactive, progress.total > 0 { _ = StandardStreams.writeDiagnostic("\n") }
        var text = "synthesize: wrote \(progress.written) queries to \(output) (\(progress.alreadyDone) already there, \(progress.failed) failed"
        if progress.failed > 0 { text += ", listed in \(failuresPath)" }
        text += "; \(progress.emptyDocuments) empty documents skipped); \(progress.requests) requests in \(Self.format(progress.elapsed))"
        text += String(format: " (%.1f req/s)", progress.requestsPerSecond)
        note(text)
    }

    func stopped() {
        lock.lock()
        defer { lock.unlock() }
        guard let latest else { return }
        if interactive { _ = StandardStreams.writeDiagnostic("\n") }
        note("synthesize: stopped with \(latest.alreadyDone + latest.written)/\(latest.total) queries in the output (rerun to resume)")
    }

    private func note(_ text: String) {
        _ = StandardStreams.writeDiagnostic(interactive ? text + "\n" : "qwen3-embed: \(text)\n")
    }

    static func format(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        if seconds >= 3600 { return String(format: "%dh%02dm", seconds / 3600, seconds % 3600 / 60) }
        if seconds >= 60 { return String(format: "%dm%02ds", seconds / 60, seconds % 60) }
        return String(format: "%.1fs", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
