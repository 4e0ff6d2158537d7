import Kernels

/// Exact top-k search over normalised vectors: query × corpus dot products in blocks with the SIMD
/// matrix kernel, each query keeping a k-element min-heap, so the corpus is never fully sorted.
public enum SimilaritySearch {
    /// One hit.
    public struct Hit: Sendable, Equatable {
        public var index: Int
        public var score: Float
    }

    /// The `k` best corpus rows of each query, best first.
    ///
    /// - Parameters:
    ///   - queries, corpus: rows of equal length (normalise them for cosine similarity).
    ///   - tieRank: optional rank per corpus row used between equal scores (lower first); retrieval
    ///     passes trec_eval's document-id order so a cut at k keeps the documents trec_eval would rank first.
    public static func topK(queries: [[Float]], corpus: [[Float]], k: Int, tieRank: [Int]? = nil) -> [[Hit]] {
        guard let dimensions = corpus.first?.count else { return queries.map { _ in [] } }
        let flatCorpus = corpus.flatMap { $0 }
        return flatCorpus.withUnsafeBufferPointer {
            topK(queries: queries, corpus: $0, dimensions: dimensions, k: k, tieRank: tieRank)
        }
    }

    /// The same search over a corpus stored row-major in one buffer of `dimensions`-wide rows (for
    /// example a memory-mapped file), so a corpus larger than memory is never copied. Without `tieRank`,
    /// equal scores are ordered by corpus row.
    public static func topK(queries: [[Float]], corpus flatCorpus: UnsafeBufferPointer<Float>, dimensions: Int, k: Int,
                            tieRank: [Int]? = nil) -> [[Hit]] {
        let corpusCount = dimensions > 0 ? flatCorpus.count / dimensions : 0
        guard corpusCount > 0, !queries.isEmpty, k > 0 else { return queries.map { _ in [] } }
        let keep = min(k, corpusCount)
        let flatQueries = queries.flatMap { $0 }
        // Higher score first; between equal scores the lower tie rank first.
        @inline(__always) func better(_ a: Hit, _ b: Hit) -> Bool {
            if a.score != b.score { return a.score > b.score }
            guard let tieRank else { return a.index < b.index }
            return tieRank[a.index] < tieRank[b.index]
        }
        var heaps = [[Hit]](repeating: [], count: queries.count)
        let corpusBlock = 4096, queryBlock = 64
        var scores = [Float](repeating: 0, count: corpusBlock * queryBlock)
        for corpusStart in stride(from: 0, to: corpusCount, by: corpusBlock) {
            let blockCount = min(corpusBlock, corpusCount - corpusStart)
            for queryStart in stride(from: 0, to: queries.count, by: queryBlock) {
                let queryCount = min(queryBlock, queries.count - queryStart)
                flatQueries.withUnsafeBufferPointer { q in
                    scores.withUnsafeMutableBufferPointer { s in
                        RowMajorGEMM.multiply(
                            q.baseAddress! + queryStart * dimensions, rows: queryCount,
                            by: flatCorpus.baseAddress! + corpusStart * dimensions, outputs: blockCount, inner: dimensions,
                            into: s.baseAddress!)
                    }
                }
                for row in 0..<queryCount {
                    let query = queryStart + row
                    for column in 0..<blockCount {
                        let hit = Hit(index: corpusStart + column, score: scores[row * blockCount + column])
                        if heaps[query].count < keep {
                            heaps[query].append(hit)
                            siftUp(&heaps[query], from: heaps[query].count - 1, better: better)
                        } else if better(hit, heaps[query][0]) {
                            heaps[query][0] = hit
                            siftDown(&heaps[query], better: better)
                        }
                    }
                }
            }
        }
        return heaps.map { $0.sorted(by: better) }
    }

    // A min-heap under `better`: the root is the worst kept hit.
    static func siftUp(_ heap: inout [Hit], from start: Int, better: (Hit, Hit) -> Bool) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard better(heap[parent], heap[child]) else { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    static func siftDown(_ heap: inout [Hit], better: (Hit, Hit) -> Bool) {
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var worst = parent
            if left < heap.count, better(heap[worst], heap[left]) { worst = left }
            if right < heap.count, better(heap[worst], heap[right]) { worst = right }
            if worst == parent { return }
            heap.swapAt(parent, worst)
            parent = worst
        }
    }
}
