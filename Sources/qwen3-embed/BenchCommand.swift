import ArgumentParser
import Foundation
import Kernels
import Qwen3Embedding
import Tokenizer

/// `qwen3-embed bench`: throughput and latency of the forward pass (or the tokenizer) on this machine.
///
/// `--json` prints one object with the stable keys `tokens_per_second`, `latency_ms_p50`,
/// `latency_ms_p99`, `peak_rss_bytes`, `kernel`, `precision`, `threads` (other tools read it).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure forward-pass throughput and latency (or tokenizer speed with --tokenizer).")

    @Option(help: "Path to a model directory.")
    var model: String

    @Option(help: adapterHelp)
    var adapter: String?

    @Option(help: "Sequences per forward pass.")
    var batch: Int = 8

    @Option(help: "Tokens per sequence.")
    var seqLen: Int = 128

    @Option(help: "Arithmetic (auto: bf16 where the CPU has bf16 dot products, else fp32).")
    var precision: PrecisionOption = .auto

    @Option(help: "Worker threads (default: one per core).")
    var threads: Int?

    @Option(help: "Timed iterations (after one warm-up pass).")
    var iterations: Int = 5

    @Flag(help: "Measure the tokenizer (bytes/s on one core) instead of the model.")
    var tokenizer = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// Tokens one timed pass may hold (`--batch` × `--seq-len`). The activations of a pass grow with
    /// it (for Qwen3-Embedding-0.6B about 50 KB per token at fp32), so this keeps a benchmark within a
    /// few GB; it is 4× the server's default `max_batch_tokens`.
    static let maximumTokensPerPass = 65_536

    func validate() throws {
        guard batch > 0, seqLen > 0, iterations > 0 else { throw ValidationError("--batch, --seq-len and --iterations must be positive") }
        let (tokens, overflow) = batch.multipliedReportingOverflow(by: seqLen)
        guard !overflow, tokens <= Self.maximumTokensPerPass else {
            throw ValidationError("--batch × --seq-len must be at most \(Self.maximumTokensPerPass) tokens per pass, got \(batch) × \(seqLen)")
        }
        if let threads, !(1...KernelEnvironment.maximumThreads).contains(threads) {
            throw ValidationError("--threads must be between 1 and \(KernelEnvironment.maximumThreads), got \(threads)")
        }
    }

    func run() async throws {
        if tokenizer { return try benchTokenizer() }
        let precision = precision.precision
        let pool = threads.map(ComputePool.init(width:)) ?? .shared
        let progress = Progress(label: "bench", total: iterations + 1)
        progress.note("loading \(model)")
        let loadStart = DispatchTime.now()
        let qwen = try Qwen3Model(path: model, precision: precision, pool: pool,
                                  adapter: try adapter.map { try LoRAAdapter(directory: $0) })
        let loadSeconds = seconds(since: loadStart)
        // Checked before building the inputs: the model refuses longer sequences anyway, but only
        // after the whole batch has been allocated.
        guard seqLen <= qwen.configuration.maxPositionEmbeddings else {
            throw CommandLineError("--seq-len \(seqLen) exceeds the model's context of \(qwen.configuration.maxPositionEmbeddings) tokens (max_position_embeddings)")
        }
        // Deterministic ordinary-vocabulary ids, so every run measures the same work.
        var generator = SeededGenerator(seed: 42)
        let vocabulary = min(qwen.configuration.vocabularySize, 151_643)
        let sequences = (0..<batch).map { _ in (0..<seqLen).map { _ in Int(generator.next() % UInt64(vocabulary)) } }
        _ = try qwen.lastHiddenStates(for: sequences)  // warm-up
        progress.update(1)
        var latencies: [Double] = []
        for iteration in 0..<iterations {
            let start = DispatchTime.now()
            _ = try qwen.lastHiddenStates(for: sequences)
            latencies.append(seconds(since: start) * 1000)
            progress.update(iteration + 2)
        }
        let sorted = latencies.sorted()
        let p50 = percentile(sorted, 0.5), p99 = percentile(sorted, 0.99)
        let tokensPerSecond = Double(batch * seqLen) / (p50 / 1000)
        let rss = peakResidentBytes()
        if json {
            try printOutput("{\"tokens_per_second\": \(rounded(tokensPerSecond)), \"latency_ms_p50\": \(rounded(p50)), "
                  + "\"latency_ms_p99\": \(rounded(p99)), \"peak_rss_bytes\": \(rss), \"kernel\": \"\(qwen.kernel.rawValue)\", "
                  + "\"precision\": \"\(precision.rawValue)\", \"threads\": \(pool.width), \"batch\": \(batch), "
                  + "\"seq_len\": \(seqLen), \"load_seconds\": \(rounded(loadSeconds))}")
        } else {
            try printOutput("model      \(model)")
            try printOutput("workload   \(batch) × \(seqLen) tokens, \(iterations) timed passes")
            try printOutput("precision  \(precision.rawValue)   kernel \(qwen.kernel.rawValue)   threads \(pool.width)")
            try printOutput("cpu        \(CPUFeatures.detected)")
            try printOutput(String(format: "throughput %.1f tokens/s", tokensPerSecond))
            try printOutput(String(format: "latency    p50 %.2f ms   p99 %.2f ms", p50, p99))
            try printOutput(String(format: "peak RSS   %.1f MiB   (load %.2f s)", Double(rss) / 1_048_576, loadSeconds))
        }
    }

    /// Tokenizer speed on one thread over a mixed multilingual text.
    private func benchTokenizer() throws {
        let tokenizer = try Tokenizer.load(modelAt: URL(fileURLWithPath: model))
        let sample = """
        The quick brown fox jumps over the lazy dog. It's 2026 and we're testing 12345 numbers, URLs like \
        https://example.com/a?b=c, code `let x = y + 1;`\n\tand whitespace.   Qwen3 の埋め込みモデルは多言語に対応しています。\
        서울은 대한민국의 수도입니다. مرحبا بالعالم. नमस्ते दुनिया. Émojis 👩‍👩‍👧‍👦 too.\n
        """
        // Distinct texts (a cache hit on identical words is part of real use; whole-text repetition is not).
        let texts = (0..<2000).map { "\($0) " + sample }
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        var timings: [Double] = []
        var tokens = 0
        for _ in 0..<(iterations + 1) {
            let start = DispatchTime.now()
            tokens = texts.reduce(0) { $0 + tokenizer.encode($1).count }
            timings.append(seconds(since: start))
        }
        let best = timings.dropFirst().min() ?? timings[0]
        let bytesPerSecond = Double(bytes) / best
        if json {
            try printOutput("{\"bytes_per_second\": \(rounded(bytesPerSecond)), \"tokens_per_second\": \(rounded(Double(tokens) / best)), \"threads\": 1}")
        } else {
            try printOutput(String(format: "tokenizer  %.2f MB/s   %.0f tokens/s (one thread, %d bytes)", bytesPerSecond / 1e6, Double(tokens) / best, bytes))
        }
    }
}

private func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

private func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded(.up)))
    return sorted[index]
}

private func rounded(_ value: Double) -> String { String(format: "%.3f", value) }

/// Peak resident set size (VmHWM) from /proc; 0 where unavailable.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }
    return 0
}
