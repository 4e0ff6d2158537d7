/// Pair-classification metrics of one scorer, as MTEB's `PairClassificationEvaluator` computes them.
public struct PairClassificationMetrics: Sendable, Equatable {
    /// Best accuracy over thresholds between consecutive sorted scores.
    public var accuracy: Double
    /// The threshold of `accuracy` (midpoint of the two scores it separates; −1 if none helps).
    public var accuracyThreshold: Double
    /// Best F1 over the same sweep, with its precision, recall and threshold.
    public var f1: Double
    public var precision: Double
    public var recall: Double
    public var f1Threshold: Double
    /// scikit-learn average precision of the scores (negated when lower means more similar).
    public var averagePrecision: Double

    /// Computes every metric.
    ///
    /// - Parameters:
    ///   - scores: one score per pair.
    ///   - labels: `true` for a positive (similar) pair.
    ///   - higherIsMoreSimilar: `true` for similarities, `false` for distances.
    ///
    /// The sweep follows MTEB exactly: rows sorted by score (a stable sort, so tied pairs stay in input
    /// order), a cut after each of the first n − 1 rows, the first strictly better value kept.
    public init(scores: [Double], labels: [Bool], higherIsMoreSimilar: Bool) {
        precondition(scores.count == labels.count, "scores and labels differ in length")
        let order = scores.indices.sorted { a, b in
            if scores[a] != scores[b] { return higherIsMoreSimilar ? scores[a] > scores[b] : scores[a] < scores[b] }
            return a < b
        }
        let total = labels.count
        let positives = labels.filter { $0 }.count
        var bestAccuracy = 0.0, accuracyThreshold = -1.0
        var positiveSoFar = 0, remainingNegatives = total - positives
        var bestF1 = 0.0, bestPrecision = 0.0, bestRecall = 0.0, f1Threshold = 0.0
        var extracted = 0, correct = 0
        for i in 0..<max(0, total - 1) {
            let index = order[i]
            let midpoint = (scores[index] + scores[order[i + 1]]) / 2
            if labels[index] { positiveSoFar += 1 } else { remainingNegatives -= 1 }
            let accuracy = Double(positiveSoFar + remainingNegatives) / Double(total)
            if accuracy > bestAccuracy { bestAccuracy = accuracy; accuracyThreshold = midpoint }
            extracted += 1
            if labels[index] { correct += 1 }
            if correct > 0 {
                let precision = Double(correct) / Double(extracted)
                let recall = Double(correct) / Double(positives)
                let f1 = 2 * precision * recall / (precision + recall)
                if f1 > bestF1 { bestF1 = f1; bestPrecision = precision; bestRecall = recall; f1Threshold = midpoint }
            }
        }
        accuracy = bestAccuracy
        self.accuracyThreshold = accuracyThreshold
        f1 = bestF1; precision = bestPrecision; recall = bestRecall; self.f1Threshold = f1Threshold
        averagePrecision = RankingMetrics.averagePrecision(
            labels: labels, scores: higherIsMoreSimilar ? scores : scores.map { -$0 })
    }
}
