import Synchronization

/// Byte-level BPE over integer symbols: each byte starts as the id of its one-character token, then the
/// adjacent pair with the lowest merge rank is merged (the leftmost one among equal ranks) until no
/// pair has a merge — the same result as `BPE::merge_all` in Hugging Face `tokenizers`.
final class BytePairEncoding: Sendable {
    /// Token id of each byte's single-character spelling.
    private let byteIDs: [Int32]
    private let merges: MergeTable
    /// Results for pieces seen before (real text repeats its words a lot). Sharded so that threads
    /// encoding in parallel rarely wait for each other.
    private let cacheShards: [CacheShard]
    private static let shardCount = 16
    /// Entries per shard before the shard is emptied: at most 65 536 cached pieces in all (a few MB
    /// for real text, where pieces average a handful of bytes).
    private static let shardLimit = 4096
    /// Pieces up to this many bytes are cached and merged by scanning; longer ones (rare: a run of
    /// letters without spaces) use the O(n log n) heap merge and are not cached. Measured: scanning
    /// stays faster than the heap (which allocates) up to a few hundred bytes.
    private static let shortPiece = 256

    init(byteIDs: [Int32], merges: MergeTable) {
        self.byteIDs = byteIDs
        self.merges = merges
        cacheShards = (0..<Self.shardCount).map { _ in CacheShard() }
    }

    /// Appends the ids of one pre-tokenized piece (its UTF-8 bytes) to `output`.
    func encode(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        let count = bytes.count
        if count == 1 {
            output.append(Int(byteIDs[Int(bytes[0])]))
            return
        }
        guard count <= Self.shortPiece else {
            mergeLong(bytes, into: &output)
            return
        }
        let hash = Self.hash(bytes)
        let shard = cacheShards[Int(hash % UInt64(Self.shardCount))]
        let hit = shard.pieces.withLock { cache -> Bool in
            guard let entry = cache[hash], entry.bytes.count == count,
                  entry.bytes.withUnsafeBufferPointer({ Self.equal($0, bytes) }) else { return false }
            for id in entry.ids { output.append(Int(id)) }
            return true
        }
        if hit { return }
        let ids = mergeShort(bytes)
        for id in ids { output.append(Int(id)) }
        let entry = CachedPiece(bytes: Array(bytes), ids: ids)
        shard.pieces.withLock { cache in
            if cache.count >= Self.shardLimit { cache.removeAll(keepingCapacity: true) }
            cache[hash] = entry  // a hash collision just replaces the older piece
        }
    }

    @inline(__always)
    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in 0..<a.count where a[index] != b[index] { return false }
        return true
    }

    /// FNV-1a: short pieces, cheap to hash byte by byte.
    @inline(__always)
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// Merging by repeated scans for the lowest-ranked pair. Quadratic, but with at most 256 symbols
    /// and two table lookups per merge (only the pairs around a merge change) it beats a heap.
    func mergeShort(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int32] {
        let n = bytes.count
        var symbols = [Int32](unsafeUninitializedCapacity: n) { buffer, initialized in
            for index in 0..<n { buffer[index] = byteIDs[Int(bytes[index])] }
            initialized = n
        }
        let remaining = symbols.withUnsafeMutableBufferPointer { symbols in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { pairs -> Int in
                // pairs[i]: the merge of symbols i and i+1, packed so that a smaller value is a lower rank.
                for index in 0..<(n - 1) { pairs[index] = merges.lookup(symbols[index], symbols[index + 1]) }
                var tally = WorkTally()
                defer { tally.flush() }
                var count = n
                while count > 1 {
                    tally.count(2 * count)  // the scan for the best pair, and at most as much shifting
                    var best = MergeTable.none
                    var bestIndex = 0
                    for index in 0..<(count - 1) where pairs[index] < best {  // strict: leftmost wins ties
                        best = pairs[index]
                        bestIndex = index
                    }
                    if best == MergeTable.none { break }
                    symbols[bestIndex] = MergeTable.mergedID(best)
                    // Remove symbol bestIndex + 1 and the pair that started at it.
                    var index = bestIndex + 1
                    while index < count - 1 {
                        symbols[index] = symbols[index + 1]
                        pairs[index] = pairs[index + 1]
                        index += 1
                    }
                    count -= 1
                    if bestIndex > 0 {
                        pairs[bestIndex - 1] = merges.lookup(symbols[bestIndex - 1], symbols[bestIndex])
                    }
                    if bestIndex < count - 1 {
                        pairs[bestIndex] = merges.lookup(symbols[bestIndex], symbols[bestIndex + 1])
                    }
                }
                return count
            }
        }
        symbols.removeLast(n - remaining)
        return symbols
    }

    /// O(n log n) merging with a priority queue over a linked list, for long pieces (a megabyte of
    /// letters without a space must not take quadratic time).
    ///
    /// The order is `BPE::merge_all`'s in `tokenizers`: lowest rank first, leftmost among equal ranks.
    /// Each heap entry is one integer, `rank << 32 | position`, so ordering is one comparison and the
    /// heap stays small (a megabyte piece has a million entries; 8 bytes each rather than 24 keeps it in
    /// cache far longer). An entry goes stale when a neighbour merges first; it is recognised on the
    /// way out because the pair now at its position has another rank (ranks are unique per pair).
    func mergeLong(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        let count = bytes.count
        guard count > 1 else {
            if count == 1 { output.append(Int(byteIDs[Int(bytes[0])])) }
            return
        }
        // Positions must fit in the key's low 32 bits: a piece of 4 GiB or more (which no caller can
        // produce: requests and files are far smaller) is merged in 2 GiB parts.
        guard count <= Int(Int32.max) else {
            var start = 0
            while start < count {
                let end = min(count, start + Int(Int32.max))
                mergeLong(UnsafeBufferPointer(rebasing: bytes[start..<end]), into: &output)
                start = end
            }
            return
        }
        var tally = WorkTally()
        defer { tally.flush() }
        // symbols[i]: the token at position i (valid while i is alive); next / previous: the linked list
        // of live positions (next == count and previous == -1 at the ends; a dead position has next -1).
        var symbols = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count { buffer[index] = byteIDs[Int(bytes[index])] }
            initialized = count
        }
        var next = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count { buffer[index] = Int32(index + 1) }
            initialized = count
        }
        var previous = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count { buffer[index] = Int32(index - 1) }
            initialized = count
        }
        var heap = MergeHeap(capacity: 3 * count)  // n - 1 initial entries, at most 2 more per merge
        for index in 0..<(count - 1) {
            let merge = merges.lookup(symbols[index], symbols[index + 1])
            if merge != MergeTable.none { heap.append(MergeHeap.key(rank: merge, position: index)) }
        }
        heap.heapify(&tally)
        let last = Int32(count)
        while let key = heap.pop(&tally) {
            let position = MergeHeap.position(key)
            let right = next[position]
            guard right >= 0, right < last else { continue }  // dead, or nothing to its right any more
            let merge = merges.lookup(symbols[position], symbols[Int(right)])
            guard merge != MergeTable.none, MergeHeap.rank(merge) == MergeHeap.rank(key) else { continue }  // stale
            symbols[position] = MergeTable.mergedID(merge)
            let following = next[Int(right)]
            next[Int(right)] = -1
            next[position] = following
            if following < last { previous[Int(following)] = Int32(position) }
            let left = previous[position]
            if left >= 0 {
                let leftMerge = merges.lookup(symbols[Int(left)], symbols[position])
                if leftMerge != MergeTable.none { heap.push(MergeHeap.key(rank: leftMerge, position: Int(left)), &tally) }
            }
            if following < last {
                let rightMerge = merges.lookup(symbols[position], symbols[Int(following)])
                if rightMerge != MergeTable.none { heap.push(MergeHeap.key(rank: rightMerge, position: position), &tally) }
            }
        }
        var index = 0
        while index < count {
            output.append(Int(symbols[index]))
            index = Int(next[index])
        }
    }
}

/// One lock-protected part of the piece cache (a class because `Mutex` cannot be copied into an array).
final class CacheShard: Sendable {
    let pieces = Mutex<[UInt64: CachedPiece]>([:])
}

/// A cached piece: its bytes (to confirm a hash hit) and ids.
struct CachedPiece: Sendable {
    let bytes: [UInt8]
    let ids: [Int32]
}

/// (left id, right id) → (rank, merged id), as an open-addressing hash table: the lookup is the inner
/// loop of BPE, and the standard `Dictionary` (SipHash) is several times slower for integer keys.
struct MergeTable: Sendable {
    /// "No merge": larger than every packed merge.
    static let none = UInt64.max
    private static let emptyKey = UInt64.max
    private let keys: [UInt64]
    private let values: [UInt64]
    private let mask: Int

    /// - Parameter merges: (left, right, merged) ids in rank order; the first of duplicate pairs wins,
    ///   as in `tokenizers`.
    init(_ merges: [(left: Int32, right: Int32, merged: Int32)]) {
        var capacity = 1024
        while capacity < merges.count * 2 { capacity <<= 1 }
        var keys = [UInt64](repeating: Self.emptyKey, count: capacity)
        var values = [UInt64](repeating: Self.none, count: capacity)
        let mask = capacity - 1
        for (rank, merge) in merges.enumerated() {
            let key = Self.key(merge.left, merge.right)
            var slot = Self.slot(key, mask)
            while keys[slot] != Self.emptyKey && keys[slot] != key { slot = (slot + 1) & mask }
            if keys[slot] == key { continue }
            keys[slot] = key
            values[slot] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merge.merged))
        }
        self.keys = keys
        self.values = values
        self.mask = mask
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// The packed merge of a pair (`rank << 32 | merged id`), or `none`.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64 {
        let key = Self.key(left, right)
        return keys.withUnsafeBufferPointer { keys in
            var slot = Self.slot(key, mask)
            while true {
                let found = keys[slot]
                if found == key { return values.withUnsafeBufferPointer { $0[slot] } }
                if found == Self.emptyKey { return Self.none }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The merged id of a packed merge.
    @inline(__always)
    static func mergedID(_ merge: UInt64) -> Int32 { Int32(truncatingIfNeeded: merge & 0xFFFF_FFFF) }
}

/// A binary min-heap of merge candidates, each packed as `rank << 32 | position` (see `mergeLong`).
private struct MergeHeap: ~Copyable {
    private let items: UnsafeMutablePointer<UInt64>
    private let capacity: Int
    private var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        items = .allocate(capacity: capacity)
    }

    deinit { items.deallocate() }

    /// The key of a candidate: the rank of a packed merge (`MergeTable.lookup`) and a position.
    @inline(__always)
    static func key(rank merge: UInt64, position: Int) -> UInt64 { merge & 0xFFFF_FFFF_0000_0000 | UInt64(position) }

    @inline(__always)
    static func rank(_ keyOrMerge: UInt64) -> UInt64 { keyOrMerge >> 32 }

    @inline(__always)
    static func position(_ key: UInt64) -> Int { Int(key & 0xFFFF_FFFF) }

    /// Adds a key without restoring the heap order: call `heapify` after the last one.
    mutating func append(_ key: UInt64) {
        precondition(count < capacity)
        items[count] = key
        count += 1
    }

    /// Orders the appended keys in O(n) (Floyd's construction).
    mutating func heapify(_ tally: inout WorkTally) {
        var parent = count / 2 - 1
        while parent >= 0 {
            siftDown(from: parent, &tally)
            parent -= 1
        }
    }

    /// Adds a key; the tally counts the levels it rises (at most log2 of the heap's size).
    mutating func push(_ key: UInt64, _ tally: inout WorkTally) {
        precondition(count < capacity)
        var child = count
        count += 1
        tally.count()
        while child > 0 {
            tally.count()
            let parent = (child - 1) / 2
            guard key < items[parent] else { break }
            items[child] = items[parent]
            child = parent
        }
        items[child] = key
    }

    /// Removes the smallest key; the tally counts the levels the replacement sinks.
    mutating func pop(_ tally: inout WorkTally) -> UInt64? {
        tally.count()
        guard count > 0 else { return nil }
        let first = items[0]
        count -= 1
        if count > 0 {
            items[0] = items[count]
            siftDown(from: 0, &tally)
        }
        return first
    }

    private mutating func siftDown(from start: Int, _ tally: inout WorkTally) {
        let key = items[start]
        var parent = start
        while true {
            tally.count()
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let smaller = right < count && items[right] < items[left] ? right : left
            guard items[smaller] < key else { break }
            items[parent] = items[smaller]
            parent = smaller
        }
        items[parent] = key
    }
}
