#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Homogeneity, completeness and v-measure as scikit-learn computes them (natural logarithms, β = 1).
public struct ClusteringMetrics: Sendable, Equatable {
    public var homogeneity: Double
    public var completeness: Double
    public var vMeasure: Double

    /// Compares a clustering with gold labels.
    public init<Label: Hashable, Cluster: Hashable>(truth: [Label], clusters: [Cluster]) {
        precondition(truth.count == clusters.count, "labels and clusters differ in length")
        let n = Double(truth.count)
        var joint: [Int: [Int: Int]] = [:]
        var classIDs: [Label: Int] = [:], clusterIDs: [Cluster: Int] = [:]
        var classCounts: [Int] = [], clusterCounts: [Int] = []
        for (label, cluster) in zip(truth, clusters) {
            let c = classIDs[label] ?? { classIDs[label] = classCounts.count; classCounts.append(0); return classCounts.count - 1 }()
            let k = clusterIDs[cluster] ?? { clusterIDs[cluster] = clusterCounts.count; clusterCounts.append(0); return clusterCounts.count - 1 }()
            classCounts[c] += 1; clusterCounts[k] += 1
            joint[c, default: [:]][k, default: 0] += 1
        }
        func entropy(_ counts: [Int]) -> Double {
            counts.reduce(0) { total, count in count == 0 ? total : total - Double(count) / n * log(Double(count) / n) }
        }
        let classEntropy = entropy(classCounts), clusterEntropy = entropy(clusterCounts)
        var mutualInformation = 0.0
        for c in classCounts.indices {  // fixed order: bit-identical results from run to run
            guard let row = joint[c] else { continue }
            for (k, count) in row.sorted(by: { $0.key < $1.key }) {
                let pxy = Double(count) / n
                mutualInformation += pxy * (log(Double(count) * n) - log(Double(classCounts[c]) * Double(clusterCounts[k])))
            }
        }
        mutualInformation = max(0, mutualInformation)
        homogeneity = classEntropy == 0 ? 1 : mutualInformation / classEntropy
        completeness = clusterEntropy == 0 ? 1 : mutualInformation / clusterEntropy
        vMeasure = homogeneity + completeness == 0 ? 0 : 2 * homogeneity * completeness / (homogeneity + completeness)
    }
}
