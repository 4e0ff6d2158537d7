#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TaskRunner {
    /// Classification (MTEB v1): `experiments` runs (default 10), each reshuffling the training split
    /// with the seeded generator and keeping the first `samples_per_label` (default 8) per label,
    /// fitting logistic regression (max 100 iterations) or kNN, scoring the whole test split.
    func runClassification(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let description = task.description
        let train = try DatasetLoader.labeledTexts(task, source: description.train!, limitPerLabel: description.limit)
        let test = try DatasetLoader.labeledTexts(task, source: description.data, limitPerLabel: description.limit)
        let trainVectors = try await embedSymmetric(train.texts, task, label: "train").map { $0.map(Double.init) }
        let testVectors = try await embedSymmetric(test.texts, task, label: "test").map { $0.map(Double.init) }
        let experiments = description.experiments ?? 10, perLabel = description.samplesPerLabel ?? 8
        var generator = SeededGenerator(seed: UInt64(description.seed ?? 42))
        var accuracies: [Double] = [], macro: [Double] = [], weighted: [Double] = []
        for _ in 0..<experiments {
            var order = Array(train.texts.indices)
            order.shuffle(using: &generator)
            var taken: [String: Int] = [:], rows: [[Double]] = [], labels: [String] = []
            for index in order where taken[train.labels[index], default: 0] < perLabel {
                taken[train.labels[index], default: 0] += 1
                rows.append(trainVectors[index]); labels.append(train.labels[index])
            }
            let predicted: [String]
            if description.method == "knn" {
                var classifier = NearestNeighborClassifier(neighbors: description.neighbors ?? 5)
                classifier.fit(features: rows, labels: labels)
                predicted = classifier.predict(testVectors)
            } else {
                var classifier = LogisticRegression(maxIterations: 100)
                try classifier.fit(features: rows, labels: labels)
                predicted = classifier.predict(testVectors)
            }
            accuracies.append(ClassificationMetrics.accuracy(truth: test.labels, predicted: predicted))
            macro.append(ClassificationMetrics.macroF1(truth: test.labels, predicted: predicted))
            weighted.append(ClassificationMetrics.weightedF1(truth: test.labels, predicted: predicted))
        }
        let scores = ["accuracy": mean(accuracies), "accuracy_std": standardDeviation(accuracies),
                      "f1": mean(macro), "f1_weighted": mean(weighted)]
        return (scores, ["train": train.texts.count, "test": test.texts.count, "labels": Set(train.labels).count])
    }

    /// Clustering (MTEB v2): a fraction of the documents (default 4%) embedded, `bootstrap_runs`
    /// (default 10) samples of `documents_per_run` (default 16,384) drawn with replacement, each
    /// clustered by mini-batch k-means (k = gold label count, batch 512); mean and std of v-measure.
    func runClustering(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let description = task.description
        var data = try DatasetLoader.labeledTexts(task, source: description.data, limitPerLabel: description.limit)
        var generator = SeededGenerator(seed: UInt64(description.seed ?? 42))
        let embedded = max(1, Int(Double(data.texts.count) * (description.fractionEmbedded ?? 0.04)))
        if embedded < data.texts.count {
            let chosen = Array(data.texts.indices).shuffled(using: &generator).prefix(embedded)
            data = LabeledTexts(texts: chosen.map { data.texts[$0] }, labels: chosen.map { data.labels[$0] })
        }
        let vectors = try await embedSymmetric(data.texts, task, label: "texts")
        let clusterer = MiniBatchKMeans(clusters: Set(data.labels).count, batchSize: 512)
        var measures: [Double] = []
        for _ in 0..<(description.bootstrapRuns ?? 10) {
            let sample = (0..<(description.documentsPerRun ?? 16_384)).map { _ in Int.random(in: 0..<vectors.count, using: &generator) }
            let assignment = clusterer.fitPredict(sample.map { vectors[$0] }, generator: &generator)
            measures.append(ClusteringMetrics(truth: sample.map { data.labels[$0] }, clusters: assignment).vMeasure)
        }
        return (["v_measure": mean(measures), "v_measure_std": standardDeviation(measures)],
                ["documents": data.texts.count, "labels": Set(data.labels).count])
    }
}

func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

/// Population standard deviation (numpy's default, as MTEB reports it).
func standardDeviation(_ values: [Double]) -> Double {
    let m = mean(values)
    return values.isEmpty ? 0 : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)).squareRoot()
}
