import Foundation

/// Embeds texts for the runners: deduplicates, serves what the cache has, streams the rest through
/// the encoder in chunks (saving each chunk to the cache and reporting progress), and counts the work.
public final class EmbeddingService: Sendable {
    /// The model.
    public let encoder: any TextEncoder
    /// The on-disk cache, if enabled.
    public let cache: EmbeddingCache?
    /// Texts per encoder call: small enough for progress and resumability, large enough to batch well.
    public let chunkSize: Int
    /// Called with (label, done, total) after each chunk.
    public let progress: @Sendable (String, Int, Int) -> Void
    private let statistics = Statistics()

    /// Work done by the encoder (cache hits excluded).
    public struct Throughput: Sendable, Codable, Equatable {
        public var texts = 0
        public var tokens = 0
        public var seconds = 0.0
        public var cachedTexts = 0
    }

    /// A service over `encoder`.
    public init(encoder: any TextEncoder, cache: EmbeddingCache? = nil, chunkSize: Int = 64,
                progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) {
        self.encoder = encoder
        self.cache = cache
        self.chunkSize = max(1, chunkSize)
        self.progress = progress
    }

    /// Totals so far.
    public func throughput() async -> Throughput { await statistics.value }

    /// One vector per text, in input order.
    public func embed(_ texts: [String], instruction: String?, label: String = "embedding") async throws -> [[Float]] {
        var unique: [String: Int] = [:]
        var distinct: [String] = []
        for text in texts where unique[text] == nil {
            unique[text] = distinct.count
            distinct.append(text)
        }
        var vectors = [[Float]?](repeating: nil, count: distinct.count)
        var missing: [Int] = []
        for (index, text) in distinct.enumerated() {
            if let cache, let vector = await cache.vector(for: EmbeddingCache.key(text: text, instruction: instruction)) {
                vectors[index] = vector
            } else {
                missing.append(index)
            }
        }
        await statistics.add(Throughput(cachedTexts: distinct.count - missing.count))
        var done = distinct.count - missing.count
        progress(label, done, distinct.count)
        for start in stride(from: 0, to: missing.count, by: chunkSize) {
            let chunk = Array(missing[start..<min(missing.count, start + chunkSize)])
            let began = Date()
            let (encoded, tokens) = try await encoder.encode(chunk.map { distinct[$0] }, instruction: instruction)
            await statistics.add(Throughput(texts: chunk.count, tokens: tokens, seconds: Date().timeIntervalSince(began)))
            for (index, vector) in zip(chunk, encoded) { vectors[index] = vector }
            if let cache {
                try await cache.store(zip(chunk, encoded).map { (EmbeddingCache.key(text: distinct[$0], instruction: instruction), $1) })
            }
            done += chunk.count
            progress(label, done, distinct.count)
        }
        return texts.map { vectors[unique[$0]!]! }
    }

    private actor Statistics {
        var value = Throughput()
        func add(_ delta: Throughput) {
            value.texts += delta.texts; value.tokens += delta.tokens
            value.seconds += delta.seconds; value.cachedTexts += delta.cachedTexts
        }
    }
}
