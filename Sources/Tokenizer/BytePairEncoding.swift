import Synchronization

/// Byte-level BPE over integer symbols: each byte starts as the id of its one-character token, then the
/// adjacent pair with the lowest merge rank is merged (leftmost first among equal ranks) until no pair
/// has a merge — the same result as Hugging Face's `BPE::merge_all`.
final class BytePairEncoding: Sendable {
    /// Token id of each byte's single-character spelling.
    private let byteIDs: [Int32]
    /// (left id, right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Results for recently seen pieces (pieces repeat a lot in real text).
    private let cache = Mutex<[[UInt8]: [Int32]]>([:])
    private static let cacheLimit = 100_000
    /// Pieces longer than this are not cached (and use the heap-based merge).
    private static let longPiece = 48

    init(byteIDs: [Int32], merges: [UInt64: (rank: Int32, id: Int32)]) {
        self.byteIDs = byteIDs
        self.merges = merges
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of one pre-tokenized piece (its UTF-8 bytes) to `output`.
    func encode(_ bytes: [UInt8], into output: inout [Int]) {
        if bytes.count <= Self.longPiece, let cached = cache.withLock({ $0[bytes] }) {
            for id in cached { output.append(Int(id)) }
            return
        }
        var symbols = bytes.map { byteIDs[Int($0)] }
        if symbols.count > 1 {
            if symbols.count <= Self.longPiece {
                mergeByScanning(&symbols)
            } else {
                mergeWithHeap(&symbols)
            }
        }
        if bytes.count <= Self.longPiece {
            let result = symbols
            cache.withLock { cache in
                if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[bytes] = result
            }
        }
        for id in symbols { output.append(Int(id)) }
    }

    /// O(n²) merging, fastest for the short pieces that make up nearly all text.
    private func mergeByScanning(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = Int32.max
            var bestIndex = -1
            var bestID: Int32 = 0
            for index in 0..<(symbols.count - 1) {
                if let merge = merges[Self.key(symbols[index], symbols[index + 1])], merge.rank < bestRank {
                    bestRank = merge.rank
                    bestIndex = index
                    bestID = merge.id
                }
            }
            if bestIndex < 0 { return }
            symbols[bestIndex] = bestID
            symbols.remove(at: bestIndex + 1)
        }
    }

    /// O(n log n) merging with a priority queue over a linked list, for long pieces (a 1 MB run of
    /// letters must not take quadratic time).
    private func mergeWithHeap(_ symbols: inout [Int32]) {
        let count = symbols.count
        var previous = (0..<count).map { $0 - 1 }
        var next = (0..<count).map { $0 + 1 }
        var alive = [Bool](repeating: true, count: count)
        var heap = MinHeap()
        for index in 0..<(count - 1) {
            if let merge = merges[Self.key(symbols[index], symbols[index + 1])] {
                heap.push(Candidate(rank: merge.rank, position: index, left: symbols[index], right: symbols[index + 1]))
            }
        }
        while let candidate = heap.pop() {
            let position = candidate.position
            guard alive[position], symbols[position] == candidate.left else { continue }
            let right = next[position]
            guard right < count, symbols[right] == candidate.right,
                  let merge = merges[Self.key(candidate.left, candidate.right)], merge.rank == candidate.rank else { continue }
            symbols[position] = merge.id
            alive[right] = false
            next[position] = next[right]
            if next[right] < count { previous[next[right]] = position }
            if previous[position] >= 0 {
                let left = previous[position]
                if let merge = merges[Self.key(symbols[left], symbols[position])] {
                    heap.push(Candidate(rank: merge.rank, position: left, left: symbols[left], right: symbols[position]))
                }
            }
            if next[position] < count {
                let following = next[position]
                if let merge = merges[Self.key(symbols[position], symbols[following])] {
                    heap.push(Candidate(rank: merge.rank, position: position, left: symbols[position], right: symbols[following]))
                }
            }
        }
        var result: [Int32] = []
        result.reserveCapacity(count)
        var index = 0
        while index < count {
            result.append(symbols[index])
            index = next[index]
        }
        symbols = result
    }
}

/// A merge that may apply at `position` if the symbols there are still `left`, `right`.
private struct Candidate {
    let rank: Int32
    let position: Int
    let left: Int32
    let right: Int32

    /// Lower rank first, then leftmost.
    func precedes(_ other: Candidate) -> Bool {
        rank != other.rank ? rank < other.rank : position < other.position
    }
}

/// A binary min-heap of merge candidates.
private struct MinHeap {
    private var items: [Candidate] = []

    mutating func push(_ item: Candidate) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left].precedes(items[smallest]) { smallest = left }
                if right < items.count && items[right].precedes(items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
