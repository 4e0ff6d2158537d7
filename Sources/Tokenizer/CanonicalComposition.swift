import Foundation

/// Unicode NFC as Hugging Face `tokenizers` computes it, in O(n log n) time for every input.
///
/// `tokenizers` normalises with `unicode-normalization-alignments`, a fork of `unicode-normalization`
/// whose tables are Unicode 9.0: characters assigned later are, for it, unassigned — class 0, no
/// decomposition, no composition (so it reorders U+1DF6, a Unicode 10 mark, as a starter, and never
/// composes Dives Akuru U+11935 U+11930 into U+11938, both checked against `tokenizers`). Foundation
/// and the standard library use current tables, and their canonical ordering is an insertion sort:
/// quadratic in the length of a run of combining marks (a megabyte of alternating marks took minutes,
/// and `"e\u{301}" * n` grew quadratically too). Hence this implementation: the standard algorithm
/// (UAX #15: full canonical decomposition, stable sort of each run of marks by combining class,
/// canonical composition) over tables restricted to Unicode 9.0.
///
/// The tables come from Swift's own Unicode data, not from a copy: combining classes and composition
/// exclusions from `Unicode.Scalar.Properties`, decompositions from Foundation's NFD of each single
/// character (on one character neither library's insertion sort can be slow). Decompositions, classes
/// and exclusions of assigned characters never change between Unicode versions (Unicode's stability
/// policy), so current data restricted to characters of age ≤ 9.0 is the Unicode 9.0 data.
enum CanonicalComposition {
    /// One character of the normalised text and how it came from the input, as `tokenizers` records it in
    /// its alignments: `change` 0 replaces the next input character, −k replaces it and swallows k more
    /// (a composition), +1 is inserted after the previous character (the extra parts of a decomposition).
    struct Item {
        var scalar: UInt32
        var change: Int32
        /// Canonical combining class (Unicode 9.0; 0 for characters assigned later).
        let combiningClass: UInt8
    }

    /// The NFC of `scalars` with its change stream.
    ///
    /// Linear apart from sorting runs of combining marks (O(k log k) for a run of k marks): each input
    /// character is decomposed by one table lookup, and composition looks at each character once.
    static func normalize(_ scalars: some Sequence<Unicode.Scalar>) -> [Item] {
        let tables = Tables.shared
        var items: [Item] = []
        items.reserveCapacity(scalars.underestimatedCount)
        for scalar in scalars {
            tables.appendDecomposition(of: scalar.value, to: &items)
        }
        var tally = WorkTally()
        tally.count(items.count)
        sortMarks(&items, &tally)
        let result = compose(items, tables, &tally)
        tally.flush()
        return result
    }

    /// Canonical ordering: each maximal run of characters with a non-zero class is sorted by class,
    /// stably. Runs already in order (nearly all of real text) are only scanned.
    private static func sortMarks(_ items: inout [Item], _ tally: inout WorkTally) {
        var start = 0
        let count = items.count
        while start < count {
            guard items[start].combiningClass != 0 else { start += 1; continue }
            var end = start + 1
            var ordered = true
            while end < count && items[end].combiningClass != 0 {
                if items[end].combiningClass < items[end - 1].combiningClass { ordered = false }
                end += 1
            }
            tally.count(end - start)
            if !ordered {
                // Sorting by (class, position) makes the sort stable whatever algorithm `sort` uses.
                var run = Array(items[start..<end].enumerated())
                var comparisons = 0
                run.sort {
                    comparisons += 1
                    return ($0.element.combiningClass, $0.offset) < ($1.element.combiningClass, $1.offset)
                }
                tally.count(comparisons)
                for (offset, entry) in run.enumerated() { items[start + offset] = entry.element }
            }
            start = end
        }
    }

    /// Canonical composition: a character joins the last starter unless a character between them is a
    /// starter or has a class at least as high (it is "blocked"). Marks in a run are in class order, so
    /// the last character kept after the starter has the highest class among those between.
    private static func compose(_ items: [Item], _ tables: Tables, _ tally: inout WorkTally) -> [Item] {
        var result: [Item] = []
        result.reserveCapacity(items.count)
        var starter = -1
        var lastClass: UInt8 = 0  // class of the last character kept after the starter (0: none kept)
        tally.count(items.count)  // one look at each character
        for item in items {
            if starter >= 0 {
                let adjacent = starter == result.count - 1
                if adjacent || (lastClass != 0 && lastClass < item.combiningClass),
                   let composite = tables.composite(result[starter].scalar, item.scalar) {
                    result[starter].scalar = composite
                    result[starter].change += item.change - 1
                    continue
                }
            }
            if item.combiningClass == 0 {
                starter = result.count
                lastClass = 0
            } else {
                lastClass = item.combiningClass
            }
            result.append(item)
        }
        return result
    }

    /// Combining classes, decompositions and compositions of Unicode 9.0, built on first use (about a
    /// tenth of a second in a release build; only text that is not already NFC needs them).
    final class Tables: Sendable {
        static let shared = Tables()

        /// The last Unicode version `tokenizers`' NFC knows.
        static let version = (major: 9, minor: 0)

        /// Combining classes of the Basic Multilingual Plane.
        private let basicClasses: [UInt8]
        /// Non-zero combining classes above the Basic Multilingual Plane.
        private let supplementaryClasses: [UInt32: UInt8]
        /// Full canonical decompositions (Hangul syllables excepted: computed).
        private let decompositions: [UInt32: [UInt32]]
        /// Primary composites by (first << 32 | second) (Hangul excepted: computed).
        private let composites: [UInt64: UInt32]

        private init() {
            var basicClasses = [UInt8](repeating: 0, count: 0x10000)
            var supplementaryClasses: [UInt32: UInt8] = [:]
            var decompositions: [UInt32: [UInt32]] = [:]
            var composable: [(scalar: UInt32, parts: [UInt32])] = []
            for value in UInt32(0xC0)..<0x110000 {
                // Ranges without classes or decompositions (CJK ideographs, Hangul syllables, private
                // use) are skipped to keep the one-off cost low.
                if (0x3400...0x4DBF).contains(value) || (0x4E00...0x9FFF).contains(value)
                    || (0xAC00...0xD7A3).contains(value) || (0xE000...0xF8FF).contains(value)
                    || (0x20000...0x2A6DF).contains(value) || value >= 0xF0000 {
                    continue
                }
                guard let scalar = Unicode.Scalar(value) else { continue }
                let properties = scalar.properties
                guard let age = properties.age, (age.major, age.minor) <= (Self.version.major, Self.version.minor)
                else { continue }
                let combiningClass = properties.canonicalCombiningClass.rawValue
                if value < 0x10000 {
                    basicClasses[Int(value)] = combiningClass
                } else if combiningClass != 0 {
                    supplementaryClasses[value] = combiningClass
                }
                let parts = String(Character(scalar)).decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
                guard parts != [value] else { continue }
                decompositions[value] = parts
                if !properties.isFullCompositionExclusion && parts.count >= 2 {
                    composable.append((value, parts))
                }
            }
            // A primary composite joins the composite of all but its last part (or the first part alone)
            // with the last part: NFC composes one character at a time, left to right.
            var byParts: [[UInt32]: UInt32] = [:]
            for (scalar, parts) in composable { byParts[parts] = scalar }
            var composites: [UInt64: UInt32] = [:]
            for (scalar, parts) in composable {
                let prefix = Array(parts.dropLast())
                guard let first = prefix.count == 1 ? prefix[0] : byParts[prefix] else { continue }
                composites[UInt64(first) << 32 | UInt64(parts.last!)] = scalar
            }
            self.basicClasses = basicClasses
            self.supplementaryClasses = supplementaryClasses
            self.decompositions = decompositions
            self.composites = composites
        }

        /// The canonical combining class of a scalar (0 for those assigned after Unicode 9.0).
        @inline(__always)
        func combiningClass(_ value: UInt32) -> UInt8 {
            value < 0x10000 ? basicClasses[Int(value)] : supplementaryClasses[value] ?? 0
        }

        /// Appends the full canonical decomposition of a scalar: the first part with change 0, the others
        /// as insertions.
        @inline(__always)
        func appendDecomposition(of value: UInt32, to items: inout [Item]) {
            if value < 0xC0 {  // nothing below U+00C0 decomposes or combines
                items.append(Item(scalar: value, change: 0, combiningClass: 0))
                return
            }
            if value >= Hangul.syllableBase && value < Hangul.syllableBase + Hangul.syllableCount {
                let index = value - Hangul.syllableBase
                items.append(Item(scalar: Hangul.leadingBase + index / Hangul.nCount, change: 0, combiningClass: 0))
                items.append(Item(scalar: Hangul.vowelBase + index % Hangul.nCount / Hangul.trailingCount,
                                  change: 1, combiningClass: 0))
                if index % Hangul.trailingCount != 0 {
                    items.append(Item(scalar: Hangul.trailingBase + index % Hangul.trailingCount,
                                      change: 1, combiningClass: 0))
                }
                return
            }
            guard let parts = decompositions[value] else {
                items.append(Item(scalar: value, change: 0, combiningClass: combiningClass(value)))
                return
            }
            for (index, part) in parts.enumerated() {
                items.append(Item(scalar: part, change: index == 0 ? 0 : 1, combiningClass: combiningClass(part)))
            }
        }

        /// The primary composite of two scalars, if any.
        @inline(__always)
        func composite(_ first: UInt32, _ second: UInt32) -> UInt32? {
            // Hangul: leading + vowel consonant → LV syllable; LV syllable + trailing consonant → LVT.
            if first >= Hangul.leadingBase && first < Hangul.leadingBase + Hangul.leadingCount
                && second >= Hangul.vowelBase && second < Hangul.vowelBase + Hangul.vowelCount {
                return Hangul.syllableBase
                    + ((first - Hangul.leadingBase) * Hangul.vowelCount + second - Hangul.vowelBase) * Hangul.trailingCount
            }
            if first >= Hangul.syllableBase && first < Hangul.syllableBase + Hangul.syllableCount
                && (first - Hangul.syllableBase) % Hangul.trailingCount == 0
                && second > Hangul.trailingBase && second < Hangul.trailingBase + Hangul.trailingCount {
                return first + second - Hangul.trailingBase
            }
            return composites[UInt64(first) << 32 | UInt64(second)]
        }
    }

    /// The Hangul syllable arithmetic of Unicode §3.12.
    private enum Hangul {
        static let syllableBase: UInt32 = 0xAC00
        static let leadingBase: UInt32 = 0x1100
        static let vowelBase: UInt32 = 0x1161
        static let trailingBase: UInt32 = 0x11A7
        static let leadingCount: UInt32 = 19
        static let vowelCount: UInt32 = 21
        static let trailingCount: UInt32 = 28
        static let nCount = vowelCount * trailingCount
        static let syllableCount = leadingCount * nCount
    }
}
