import Foundation
import TestSupport

/// Paths of the committed reference models and golden outputs (see Scripts/make_fixtures.py).
enum Fixtures {
    static let root = TestPaths.fixtures
    static let embeddingModel = TestPaths.tinyEmbeddingModel.path
    static let rerankerModel = TestPaths.tinyRerankerModel.path

    struct EmbeddingGolden: Decodable {
        struct Case: Decodable {
            let name: String
            let texts: [String]
            let instruction: String?
            let max_length: Int
            let dimensions: Int?
            let ids: [[Int]]
            let embeddings: [[Float]]
            let unnormalized: [[Float]]
        }
        let cases: [Case]
    }

    struct RerankerGolden: Decodable {
        struct Case: Decodable {
            let name: String
            let query: String
            let documents: [String]
            let instruction: String?
            let max_length: Int
            let ids: [[Int]]
            let scores: [Float]
        }
        let yes_id: Int
        let no_id: Int
        let prefix_ids: [Int]
        let suffix_ids: [Int]
        let cases: [Case]
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        try GoldenFile.decode(T.self, at: "golden/\(name)")
    }

    /// A scratch copy of a fixture model directory that a test may damage.
    static func copy(of model: String) throws -> String {
        let destination = FileManager.default.temporaryDirectory
            .appendingPathComponent("qwen3-fixture-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: model, toPath: destination.path)
        return destination.path
    }
}

func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
