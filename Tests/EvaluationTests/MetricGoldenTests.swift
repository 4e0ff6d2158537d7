import Foundation
import Testing
@testable import Evaluation

/// Every metric against the values pytrec_eval, scipy and scikit-learn computed on the same inputs
/// (Tests/Fixtures/metrics/goldens.json, from Scripts/make_metric_goldens.py).
@Suite struct MetricGoldenTests {
    @Test func retrievalMatchesTrecEvalPerQueryAndOnAverage() throws {
        let golden = Goldens.root["retrieval"] as! [String: Any]
        let qrels = (golden["qrels"] as! [String: [String: NSNumber]]).mapValues { $0.mapValues(\.intValue) }
        let run = (golden["run"] as! [String: [String: NSNumber]]).mapValues { $0.mapValues(\.doubleValue) }
        let perQuery = golden["per_query"] as! [String: [String: NSNumber]]
        let cutoffs = Goldens.ints(Goldens.root["k_values"])
        var tracker = DifferenceTracker()
        var rankings: [String: [String]] = [:]
        for (query, expected) in perQuery {
            let ranking = RetrievalMetrics.trecOrder(run[query]!).map(\.id)
            rankings[query] = ranking
            let values = RetrievalMetrics.evaluate(ranking: ranking, qrels: qrels[query]!, cutoffs: cutoffs)
            for k in cutoffs {
                let v = values[k]!
                tracker.check(v.ndcg, expected["ndcg_cut_\(k)"]!.doubleValue, "\(query) ndcg@\(k)")
                tracker.check(v.map, expected["map_cut_\(k)"]!.doubleValue, "\(query) map@\(k)")
                tracker.check(v.recall, expected["recall_\(k)"]!.doubleValue, "\(query) recall@\(k)")
                tracker.check(v.precision, expected["P_\(k)"]!.doubleValue, "\(query) P@\(k)")
                tracker.check(v.success, expected["success_\(k)"]!.doubleValue, "\(query) success@\(k)")
                tracker.check(v.mrr, expected["recip_rank_\(k)"]!.doubleValue, "\(query) MRR@\(k)")
            }
        }
        let expectedMean = golden["mean_over_queries_with_positives"] as! [String: NSNumber]
        let (means, evaluated) = RetrievalMetrics.mean(rankings: rankings, qrels: qrels, cutoffs: cutoffs)
        #expect(evaluated == 10)  // 12 queries, two judged without a relevant document
        for k in cutoffs {
            tracker.check(means[k]!.ndcg, expectedMean["ndcg_cut_\(k)"]!.doubleValue, "mean ndcg@\(k)")
            tracker.check(means[k]!.map, expectedMean["map_cut_\(k)"]!.doubleValue, "mean map@\(k)")
            tracker.check(means[k]!.recall, expectedMean["recall_\(k)"]!.doubleValue, "mean recall@\(k)")
            tracker.check(means[k]!.precision, expectedMean["P_\(k)"]!.doubleValue, "mean P@\(k)")
            tracker.check(means[k]!.mrr, expectedMean["recip_rank_\(k)"]!.doubleValue, "mean MRR@\(k)")
        }
        print("retrieval vs pytrec_eval: max |diff| = \(tracker.maximum)")
    }

    @Test func trecOrderBreaksTiesByDocumentIDDescendingBytes() {
        let order = RetrievalMetrics.trecOrder(["d9": 0.5, "d10": 0.5, "d1": 0.5, "x": 0.7, "D9": 0.5])
        #expect(order.map(\.id) == ["x", "d9", "d10", "d1", "D9"])
    }

    @Test func averagePrecisionAndReciprocalRankMatchScikitLearn() {
        var tracker = DifferenceTracker()
        for (index, item) in Goldens.cases("ranking").enumerated() {
            let labels = Goldens.ints(item["labels"]).map { $0 == 1 }
            let scores = Goldens.doubles(item["scores"])
            tracker.check(RankingMetrics.averagePrecision(labels: labels, scores: scores), Goldens.double(item["average_precision"]), "case \(index) AP")
            tracker.check(RankingMetrics.reciprocalRank(labels: labels, scores: scores, cutoff: 10), Goldens.double(item["mrr_at_10"]), "case \(index) MRR@10")
        }
        print("reranking AP/MRR vs scikit-learn: max |diff| = \(tracker.maximum)")
    }

    @Test func correlationsMatchSciPy() {
        var tracker = DifferenceTracker()
        for (index, item) in Goldens.cases("correlation").enumerated() {
            let x = Goldens.doubles(item["x"]), y = Goldens.doubles(item["y"])
            tracker.check(Correlation.spearman(x, y), Goldens.double(item["spearman"]), "case \(index) spearman")
            tracker.check(Correlation.pearson(x, y), Goldens.double(item["pearson"]), "case \(index) pearson")
        }
        print("STS correlations vs scipy: max |diff| = \(tracker.maximum)")
    }

    @Test func pairClassificationMatchesMTEBAndScikitLearn() {
        var tracker = DifferenceTracker()
        for (index, item) in Goldens.cases("pair_classification").enumerated() {
            let metrics = PairClassificationMetrics(
                scores: Goldens.doubles(item["scores"]), labels: Goldens.ints(item["labels"]).map { $0 == 1 },
                higherIsMoreSimilar: item["high_score_more_similar"] as! Bool)
            tracker.check(metrics.accuracy, Goldens.double(item["accuracy"]), "case \(index) accuracy")
            tracker.check(metrics.accuracyThreshold, Goldens.double(item["accuracy_threshold"]), "case \(index) accuracy threshold")
            tracker.check(metrics.f1, Goldens.double(item["f1"]), "case \(index) f1")
            tracker.check(metrics.precision, Goldens.double(item["precision"]), "case \(index) precision")
            tracker.check(metrics.recall, Goldens.double(item["recall"]), "case \(index) recall")
            tracker.check(metrics.f1Threshold, Goldens.double(item["f1_threshold"]), "case \(index) f1 threshold")
            tracker.check(metrics.averagePrecision, Goldens.double(item["ap"]), "case \(index) ap")
        }
        print("pair classification vs mteb/scikit-learn: max |diff| = \(tracker.maximum)")
    }

    @Test func classificationMetricsMatchScikitLearn() {
        var tracker = DifferenceTracker()
        for (index, item) in Goldens.cases("classification").enumerated() {
            let truth = Goldens.ints(item["y_true"]), predicted = Goldens.ints(item["y_pred"])
            tracker.check(ClassificationMetrics.accuracy(truth: truth, predicted: predicted), Goldens.double(item["accuracy"]), "case \(index) accuracy")
            tracker.check(ClassificationMetrics.macroF1(truth: truth, predicted: predicted), Goldens.double(item["f1_macro"]), "case \(index) macro F1")
            tracker.check(ClassificationMetrics.weightedF1(truth: truth, predicted: predicted), Goldens.double(item["f1_weighted"]), "case \(index) weighted F1")
        }
        print("classification vs scikit-learn: max |diff| = \(tracker.maximum)")
    }

    @Test func vMeasureMatchesScikitLearn() {
        var tracker = DifferenceTracker()
        for (index, item) in Goldens.cases("clustering").enumerated() {
            let metrics = ClusteringMetrics(truth: Goldens.ints(item["labels_true"]), clusters: Goldens.ints(item["labels_pred"]))
            tracker.check(metrics.homogeneity, Goldens.double(item["homogeneity"]), "case \(index) homogeneity")
            tracker.check(metrics.completeness, Goldens.double(item["completeness"]), "case \(index) completeness")
            tracker.check(metrics.vMeasure, Goldens.double(item["v_measure"]), "case \(index) v-measure")
        }
        print("clustering vs scikit-learn: max |diff| = \(tracker.maximum)")
    }

    /// Bitext mining scores use support-weighted metrics; with one gold item per label, recall is accuracy.
    @Test func weightedPrecisionAndRecallOnBitextStylePredictions() {
        let gold = [0, 1, 2, 3], predicted = [0, 0, 2, 1]
        #expect(ClassificationMetrics.weightedRecall(truth: gold, predicted: predicted) == 0.5)
        // Label 0: precision 1/2; label 1: 0; label 2: 1; label 3: 0 → mean 0.375.
        #expect(ClassificationMetrics.weightedPrecision(truth: gold, predicted: predicted) == 0.375)
    }

    @Test func logisticRegressionReachesScikitLearnsOptimum() throws {
        let golden = Goldens.root["logistic_regression"] as! [String: Any]
        let x = (golden["train_x"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
        let y = Goldens.ints(golden["train_y"]).map(String.init)
        let testX = (golden["test_x"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
        let expected = (golden["probabilities"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
        var model = LogisticRegression(maxIterations: 2000)
        try model.fit(features: x, labels: y)
        var tracker = DifferenceTracker(tolerance: 1e-5)
        for (row, golden) in zip(model.probabilities(testX), expected) {
            for (p, g) in zip(row, golden) { tracker.check(p, g, "probability") }
        }
        print("logistic regression probabilities vs scikit-learn: max |diff| = \(tracker.maximum)")
    }
}
