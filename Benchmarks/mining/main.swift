// Throughput of the mining search: `SimilaritySearch.topK` (the evaluation module's exact SIMD top-k,
// compiled from its own source file) over a 100k × 1024 random unit-vector corpus, the shape of mining
// with Qwen3-Embedding-0.6B. Built and run by run.sh; see BENCHMARKS.md "Mining".
import Foundation
import Kernels

func unitRows(_ count: Int, _ width: Int, seed: UInt64) -> [Float] {
    var state = seed
    var values = [Float](repeating: 0, count: count * width)
    for row in 0..<count {
        var norm: Float = 0
        for column in 0..<width {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let value = Float(Int64(bitPattern: state >> 11) % 20001 - 10000) / 10000
            values[row * width + column] = value
            norm += value * value
        }
        let scale = 1 / norm.squareRoot()
        for column in 0..<width { values[row * width + column] *= scale }
    }
    return values
}

let arguments = CommandLine.arguments
let documents = arguments.count > 1 ? Int(arguments[1])! : 100_000
let width = arguments.count > 2 ? Int(arguments[2])! : 1024
let queryCount = arguments.count > 3 ? Int(arguments[3])! : 256
let k = arguments.count > 4 ? Int(arguments[4])! : 100
let corpus = unitRows(documents, width, seed: 1)
let flatQueries = unitRows(queryCount, width, seed: 2)
let queries = (0..<queryCount).map { Array(flatQueries[($0 * width)..<(($0 + 1) * width)]) }
_ = corpus.withUnsafeBufferPointer { SimilaritySearch.topK(queries: Array(queries.prefix(8)), corpus: $0, dimensions: width, k: k) }  // warm-up
var best = Double.infinity
for _ in 0..<3 {
    let start = Date()
    let hits = corpus.withUnsafeBufferPointer { SimilaritySearch.topK(queries: queries, corpus: $0, dimensions: width, k: k) }
    best = min(best, Date().timeIntervalSince(start))
    precondition(hits.count == queryCount && hits.allSatisfy { $0.count == k })
}
let threads = ProcessInfo.processInfo.activeProcessorCount
print(String(format: "corpus %d x %d, %d queries, k=%d: best of 3 %.3f s = %.1f queries/s, %.1f M similarities/s (%d CPUs)",
             documents, width, queryCount, k, best, Double(queryCount) / best, Double(queryCount * documents) / best / 1e6, threads))
