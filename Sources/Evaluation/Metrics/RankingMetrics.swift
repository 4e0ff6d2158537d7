/// Metrics of one scored candidate list (reranking) and of binary scores (pair classification).
public enum RankingMetrics {
    /// Average precision exactly as scikit-learn's `average_precision_score`.
    ///
    /// Documents with equal scores form one threshold step:
    /// AP = Σₙ (Rₙ − Rₙ₋₁) · Pₙ over distinct scores in decreasing order. With no positive label the
    /// result is 0.
    public static func averagePrecision(labels: [Bool], scores: [Double]) -> Double {
        precondition(labels.count == scores.count, "labels and scores differ in length")
        let positives = labels.filter { $0 }.count
        guard positives > 0 else { return 0 }
        let order = labels.indices.sorted { scores[$0] > scores[$1] }
        var truePositives = 0, seen = 0, previousRecall = 0.0, ap = 0.0
        var index = 0
        while index < order.count {
            let score = scores[order[index]]
            // Consume the whole group of equal scores: one threshold.
            while index < order.count, scores[order[index]] == score {
                if labels[order[index]] { truePositives += 1 }
                seen += 1
                index += 1
            }
            let recall = Double(truePositives) / Double(positives)
            let precision = Double(truePositives) / Double(seen)
            ap += (recall - previousRecall) * precision
            previousRecall = recall
        }
        return ap
    }

    /// Reciprocal rank of the first relevant candidate within the top `k`, ranking by score
    /// descending with ties kept in candidate order (a stable sort); 0 when none is in the top `k`.
    public static func reciprocalRank(labels: [Bool], scores: [Double], cutoff k: Int) -> Double {
        precondition(labels.count == scores.count, "labels and scores differ in length")
        let order = stableDescendingOrder(scores)
        for (rank, index) in order.prefix(k).enumerated() where labels[index] {
            return 1 / Double(rank + 1)
        }
        return 0
    }

    /// Indices sorted by score descending; equal scores keep their input order.
    public static func stableDescendingOrder(_ scores: [Double]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }
}
