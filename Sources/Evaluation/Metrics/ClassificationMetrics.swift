/// Accuracy and F1 as scikit-learn computes them (`zero_division=0`).
public enum ClassificationMetrics {
    /// Fraction of predictions equal to the truth.
    public static func accuracy<Label: Hashable>(truth: [Label], predicted: [Label]) -> Double {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        guard !truth.isEmpty else { return 0 }
        return Double(zip(truth, predicted).filter { $0 == $1 }.count) / Double(truth.count)
    }

    /// F1 per label over the union of true and predicted labels, with each label's support.
    static func perLabelF1<Label: Hashable>(truth: [Label], predicted: [Label]) -> [(f1: Double, support: Int)] {
        var truePositives: [Label: Int] = [:], predictedCount: [Label: Int] = [:], support: [Label: Int] = [:]
        for (t, p) in zip(truth, predicted) {
            support[t, default: 0] += 1
            predictedCount[p, default: 0] += 1
            if t == p { truePositives[t, default: 0] += 1 }
        }
        return firstSeenOrder(truth + predicted).map { label in
            let tp = Double(truePositives[label] ?? 0)
            let p = Double(predictedCount[label] ?? 0), s = Double(support[label] ?? 0)
            // F1 = 2TP / (2TP + FP + FN) = 2TP / (predicted + support); 0 when both are empty.
            let f1 = p + s > 0 ? 2 * tp / (p + s) : 0
            return (f1, support[label] ?? 0)
        }
    }

    /// Distinct labels in order of first appearance: sums run in a fixed order, so results are
    /// bit-identical from run to run (Set and Dictionary order is not).
    static func firstSeenOrder<Label: Hashable>(_ labels: [Label]) -> [Label] {
        var seen = Set<Label>()
        return labels.filter { seen.insert($0).inserted }
    }

    /// Unweighted mean of per-label F1 (`average="macro"`).
    public static func macroF1<Label: Hashable>(truth: [Label], predicted: [Label]) -> Double {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        let perLabel = perLabelF1(truth: truth, predicted: predicted)
        guard !perLabel.isEmpty else { return 0 }
        return perLabel.reduce(0) { $0 + $1.f1 } / Double(perLabel.count)
    }

    /// Support-weighted mean of per-label F1 (`average="weighted"`).
    public static func weightedF1<Label: Hashable>(truth: [Label], predicted: [Label]) -> Double {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        guard !truth.isEmpty else { return 0 }
        let perLabel = perLabelF1(truth: truth, predicted: predicted)
        return perLabel.reduce(0) { $0 + $1.f1 * Double($1.support) } / Double(truth.count)
    }
}

extension ClassificationMetrics {
    /// Support-weighted precision (`average="weighted"`, `zero_division=0`).
    public static func weightedPrecision<Label: Hashable>(truth: [Label], predicted: [Label]) -> Double {
        weighted(truth: truth, predicted: predicted) { tp, predicted, _ in predicted > 0 ? tp / predicted : 0 }
    }

    /// Support-weighted recall (`average="weighted"`), which equals accuracy.
    public static func weightedRecall<Label: Hashable>(truth: [Label], predicted: [Label]) -> Double {
        weighted(truth: truth, predicted: predicted) { tp, _, support in support > 0 ? tp / support : 0 }
    }

    static func weighted<Label: Hashable>(
        truth: [Label], predicted: [Label], _ metric: (Double, Double, Double) -> Double
    ) -> Double {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        guard !truth.isEmpty else { return 0 }
        var truePositives: [Label: Int] = [:], predictedCount: [Label: Int] = [:], support: [Label: Int] = [:]
        for (t, p) in zip(truth, predicted) {
            support[t, default: 0] += 1; predictedCount[p, default: 0] += 1
            if t == p { truePositives[t, default: 0] += 1 }
        }
        var total = 0.0
        for label in firstSeenOrder(truth) {
            let count = support[label]!
            total += Double(count) * metric(Double(truePositives[label] ?? 0), Double(predictedCount[label] ?? 0), Double(count))
        }
        return total / Double(truth.count)
    }
}
