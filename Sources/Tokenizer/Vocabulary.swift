/// Token spelling → id, compared byte for byte.
///
/// Not a `[String: Int]`: Swift hashes and compares non-ASCII strings up to canonical equivalence, which
/// is slow (every byte-level spelling like `Ġthe` is non-ASCII, and loading does 450 000 lookups) and
/// is not what `tokenizers` does (Rust compares bytes).
struct SpellingTable: Sendable {
    private let entries: [(spelling: String, id: Int)]
    /// Open addressing: index into `entries`, or -1.
    private let slots: [Int32]
    private let mask: Int

    /// - Parameter entries: spellings and ids; when a spelling repeats, the later entry wins.
    init(_ entries: [(spelling: String, id: Int)]) {
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        for (index, entry) in entries.enumerated() {
            var slot = Self.hash(entry.spelling.utf8) & mask
            while slots[slot] >= 0 && !entries[Int(slots[slot])].spelling.utf8.elementsEqual(entry.spelling.utf8) {
                slot = (slot + 1) & mask
            }
            slots[slot] = Int32(index)
        }
        self.entries = entries
        self.slots = slots
        self.mask = mask
    }

    /// The id of `spelling`.
    func id(_ spelling: String) -> Int? { id(concatenating: spelling, "") }

    /// The id of the spelling `left + right`, without building that string.
    func id(concatenating left: String, _ right: String) -> Int? {
        var hasher = FNV1a()
        hasher.combine(left.utf8)
        hasher.combine(right.utf8)
        let length = left.utf8.count + right.utf8.count
        var slot = Int(truncatingIfNeeded: hasher.value) & mask
        while slots[slot] >= 0 {
            let entry = entries[Int(slots[slot])]
            let utf8 = entry.spelling.utf8
            if utf8.count == length && utf8.prefix(left.utf8.count).elementsEqual(left.utf8)
                && utf8.suffix(right.utf8.count).elementsEqual(right.utf8) {
                return entry.id
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    private static func hash(_ bytes: String.UTF8View) -> Int {
        var hasher = FNV1a()
        hasher.combine(bytes)
        return Int(truncatingIfNeeded: hasher.value)
    }
}

/// 64-bit FNV-1a, fed incrementally.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    mutating func combine(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }

    @inline(__always)
    mutating func combine(_ bytes: some Sequence<UInt8>) { for byte in bytes { combine(byte) } }
}
