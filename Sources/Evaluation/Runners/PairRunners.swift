extension TaskRunner {
    /// STS: Spearman and Pearson of cosine similarity (and of negated Manhattan and Euclidean distances)
    /// against the gold scores.
    func runSTS(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let pairs = try DatasetLoader.stsPairs(task)
        let first = try await embedSymmetric(pairs.sentences1, task, label: "sentence1")
        let second = try await embedSymmetric(pairs.sentences2, task, label: "sentence2")
        let cosine = zip(first, second).map { VectorMath64.cosine($0, $1) }
        let manhattan = zip(first, second).map { -VectorMath64.manhattan($0, $1) }
        let euclidean = zip(first, second).map { -VectorMath64.euclidean($0, $1) }
        var scores: [String: Double] = [:]
        for (name, values) in [("cosine", cosine), ("manhattan", manhattan), ("euclidean", euclidean)] {
            scores["\(name)_spearman"] = Correlation.spearman(values, pairs.values)
            scores["\(name)_pearson"] = Correlation.pearson(values, pairs.values)
        }
        return (scores, ["pairs": pairs.values.count])
    }

    /// Pair classification: AP and best-threshold accuracy/F1 of cosine, dot, Euclidean and Manhattan
    /// scorers; `max_*` over scorers (main: `max_ap`).
    func runPairClassification(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let pairs = try DatasetLoader.labeledPairs(task)
        let first = try await embedSymmetric(pairs.sentences1, task, label: "sentence1")
        let second = try await embedSymmetric(pairs.sentences2, task, label: "sentence2")
        let labels = pairs.values.map { $0 == 1 }
        let scorers: [(String, [Double], Bool)] = [
            ("cosine", zip(first, second).map { VectorMath64.cosine($0, $1) }, true),
            ("dot", zip(first, second).map { VectorMath64.dot($0, $1) }, true),
            ("euclidean", zip(first, second).map { VectorMath64.euclidean($0, $1) }, false),
            ("manhattan", zip(first, second).map { VectorMath64.manhattan($0, $1) }, false),
        ]
        var scores: [String: Double] = [:]
        for (name, values, higherIsMoreSimilar) in scorers {
            let metrics = PairClassificationMetrics(scores: values, labels: labels, higherIsMoreSimilar: higherIsMoreSimilar)
            let named: [(String, Double)] = [
                ("accuracy", metrics.accuracy), ("accuracy_threshold", metrics.accuracyThreshold), ("f1", metrics.f1),
                ("f1_threshold", metrics.f1Threshold), ("precision", metrics.precision), ("recall", metrics.recall),
                ("ap", metrics.averagePrecision),
            ]
            for (metric, value) in named {
                scores["\(name)_\(metric)"] = value
                if !metric.hasSuffix("threshold") { scores["max_\(metric)"] = max(scores["max_\(metric)"] ?? -.infinity, value) }
            }
        }
        return (scores, ["pairs": labels.count, "positives": labels.filter { $0 }.count])
    }

    /// Bitext mining: each first-side sentence's nearest second-side sentence (cosine) against its
    /// aligned partner; accuracy and support-weighted precision, recall and F1 (MTEB's).
    func runBitextMining(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let pairs = try DatasetLoader.bitextPairs(task)
        let first = try await embedSymmetric(pairs.sentences1, task, label: "sentence1")
        let second = try await embedSymmetric(pairs.sentences2, task, label: "sentence2")
        let hits = SimilaritySearch.topK(queries: first, corpus: second, k: 1)
        let predicted = hits.map { $0.first?.index ?? -1 }
        let gold = Array(pairs.sentences1.indices)
        let scores: [String: Double] = [
            "accuracy": ClassificationMetrics.accuracy(truth: gold, predicted: predicted),
            "f1": ClassificationMetrics.weightedF1(truth: gold, predicted: predicted),
            "precision": ClassificationMetrics.weightedPrecision(truth: gold, predicted: predicted),
            "recall": ClassificationMetrics.weightedRecall(truth: gold, predicted: predicted),
        ]
        return (scores, ["pairs": gold.count])
    }
}
