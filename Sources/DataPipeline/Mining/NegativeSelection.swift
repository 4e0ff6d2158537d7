import Evaluation

/// The paper's hard-negative rule applied to one query's exact ranking of the corpus.
///
/// Ranks are 1-based positions in the exact ranking of the whole corpus by cosine similarity to the
/// query, highest first, equal similarities in corpus order (the lower document index first), so a
/// brute-force reference that sorts the same way picks the same documents. `ranks` A...B considers the
/// documents at positions A through B inclusive, in rank order. A candidate is skipped (and does not
/// shift the ranks of the others) when its text equals the positive's (the positive itself, or a copy of
/// it), when its text equals a negative already taken (duplicated documents), or when its similarity
/// exceeds the positive's similarity plus `margin` (likely a false negative: an unlabeled relevant
/// document). The first `count` candidates left are the negatives.
public struct NegativeSelection: Sendable, Equatable {
    /// 1-based ranks to take negatives from (`--range A-B`).
    public var ranks: ClosedRange<Int>
    /// Negatives per example (`--negatives K`).
    public var count: Int
    /// Candidates above the positive's similarity plus this are skipped (`--margin`).
    public var margin: Float

    /// A rule; `ranks` must start at 1 or later and `count` must be positive.
    public init(ranks: ClosedRange<Int>, count: Int, margin: Float) throws {
        guard ranks.lowerBound >= 1 else { throw MiningError.setting("--range: ranks start at 1, got \(ranks.lowerBound)") }
        guard count >= 1 else { throw MiningError.setting("--negatives must be 1 or more, got \(count)") }
        guard margin.isFinite else { throw MiningError.setting("--margin must be a finite number") }
        self.ranks = ranks
        self.count = count
        self.margin = margin
    }

    /// Parses `A-B` (1 ≤ A ≤ B), the form of `--range`.
    public static func parseRanks(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let lower = Int(parts[0]), let upper = Int(parts[1]) else {
            throw MiningError.setting("--range must be A-B with whole numbers (e.g. 10-100), got \"\(text)\"")
        }
        guard lower >= 1 else { throw MiningError.setting("--range \(text): ranks start at 1") }
        guard lower <= upper else { throw MiningError.setting("--range \(text): the first rank is after the last") }
        return lower...upper
    }

    /// The chosen candidates: corpus indices and texts in rank order (at most `count`).
    ///
    /// - Parameters:
    ///   - hits: the query's ranking, best first, at least up to rank `ranks.upperBound` (or the corpus).
    ///   - positive: the positive's text; `positiveScore`: its similarity to the query.
    ///   - text: a corpus document's text by index (read only for candidates within the margin).
    public func select(hits: [SimilaritySearch.Hit], positive: String, positiveScore: Float,
                       text: (Int) throws -> String) rethrows -> [(index: Int, text: String)] {
        var chosen: [(index: Int, text: String)] = []
        let ceiling = positiveScore + margin
        // Bounded by the ranking's length, so a --range far past the corpus costs nothing.
        guard ranks.lowerBound <= hits.count else { return [] }
        for rank in ranks.lowerBound...min(ranks.upperBound, hits.count) {
            let hit = hits[rank - 1]
            if hit.score > ceiling { continue }
            let candidate = try text(hit.index)
            if candidate == positive || chosen.contains(where: { $0.text == candidate }) { continue }
            chosen.append((hit.index, candidate))
            if chosen.count == count { break }
        }
        return chosen
    }
}
