/// k-nearest-neighbour classification by cosine similarity (MTEB's kNN classifier with
/// `metric="cosine"`): a majority vote of the k most similar training rows, ties going to the
/// label that sorts first (scikit-learn's argmax over sorted classes).
public struct NearestNeighborClassifier: Sendable {
    /// Neighbours that vote.
    public let neighbors: Int
    private var rows: [[Double]] = []
    private var labels: [String] = []

    /// A classifier with `neighbors` voters.
    public init(neighbors: Int) { self.neighbors = max(1, neighbors) }

    /// Stores the training rows (L2-normalised, so a dot product is the cosine).
    public mutating func fit(features: [[Double]], labels: [String]) {
        rows = features.map(Self.normalized)
        self.labels = labels
    }

    /// The predicted label of each row.
    public func predict(_ features: [[Double]]) -> [String] {
        features.map { feature in
            let query = Self.normalized(feature)
            let similarities = rows.map { zip($0, query).reduce(0) { $0 + $1.0 * $1.1 } }
            let nearest = similarities.indices.sorted { similarities[$0] != similarities[$1] ? similarities[$0] > similarities[$1] : $0 < $1 }
                .prefix(neighbors)
            var votes: [String: Int] = [:]
            for index in nearest { votes[labels[index], default: 0] += 1 }
            return votes.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }!.key
        }
    }

    static func normalized(_ row: [Double]) -> [Double] {
        let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? row.map { $0 / norm } : row
    }
}
