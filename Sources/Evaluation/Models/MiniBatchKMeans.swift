/// Mini-batch k-means with k-means++ seeding (the algorithm of scikit-learn's `MiniBatchKMeans`,
/// used by MTEB's clustering tasks; the random streams differ, so assignments are not bit-identical).
public struct MiniBatchKMeans: Sendable {
    /// Number of clusters.
    public let clusters: Int
    /// Rows per mini-batch (MTEB: 512).
    public let batchSize: Int
    /// Passes over the data at most.
    public let maxEpochs: Int

    /// A clusterer; `clusters` ≥ 1.
    public init(clusters: Int, batchSize: Int = 512, maxEpochs: Int = 100) {
        self.clusters = max(1, clusters)
        self.batchSize = max(1, batchSize)
        self.maxEpochs = max(1, maxEpochs)
    }

    /// Cluster index of each row.
    public func fitPredict(_ rows: [[Float]], generator: inout SeededGenerator) -> [Int] {
        guard !rows.isEmpty else { return [] }
        var centers = seed(rows, generator: &generator)
        var counts = [Int](repeating: 0, count: centers.count)
        let stepsPerEpoch = (rows.count + batchSize - 1) / batchSize
        for _ in 0..<maxEpochs {
            var shift: Float = 0
            for _ in 0..<stepsPerEpoch {
                let batch = (0..<min(batchSize, rows.count)).map { _ in Int.random(in: 0..<rows.count, using: &generator) }
                let assignments = batch.map { nearest(rows[$0], centers).index }
                for (row, center) in zip(batch, assignments) {
                    counts[center] += 1
                    let rate = 1 / Float(counts[center])
                    for j in centers[center].indices {
                        let delta = rate * (rows[row][j] - centers[center][j])
                        centers[center][j] += delta
                        shift = max(shift, abs(delta))
                    }
                }
            }
            if shift < 1e-7 { break }
        }
        return rows.map { nearest($0, centers).index }
    }

    /// k-means++: each next centre drawn with probability proportional to the squared distance to
    /// the nearest centre chosen so far.
    func seed(_ rows: [[Float]], generator: inout SeededGenerator) -> [[Float]] {
        var centers = [rows[Int.random(in: 0..<rows.count, using: &generator)]]
        var distances = rows.map { squaredDistance($0, centers[0]) }
        while centers.count < min(clusters, rows.count) {
            let total = distances.reduce(0, +)
            var chosen = Int.random(in: 0..<rows.count, using: &generator)
            if total > 0 {
                var target = Float.random(in: 0..<total, using: &generator)
                for (index, distance) in distances.enumerated() {
                    target -= distance
                    if target < 0 { chosen = index; break }
                }
            }
            centers.append(rows[chosen])
            for index in rows.indices { distances[index] = min(distances[index], squaredDistance(rows[index], rows[chosen])) }
        }
        return centers
    }

    func nearest(_ row: [Float], _ centers: [[Float]]) -> (index: Int, distance: Float) {
        var best = (index: 0, distance: Float.infinity)
        for (index, center) in centers.enumerated() {
            let distance = squaredDistance(row, center)
            if distance < best.distance { best = (index, distance) }
        }
        return best
    }

    func squaredDistance(_ a: [Float], _ b: [Float]) -> Float {
        var sum: Float = 0
        for i in a.indices { let d = a[i] - b[i]; sum += d * d }
        return sum
    }
}
