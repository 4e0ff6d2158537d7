import Foundation
import Testing
import TestSupport
@testable import Evaluation

/// Paths of the fixtures and the real data (the shared locations are TestSupport's `TestPaths`).
enum Paths {
    static let repository = TestPaths.repositoryRoot
    static let tests = repository.appendingPathComponent("Tests")
    static let embeddingModel = TestPaths.tinyEmbeddingModel.path
    static let rerankerModel = TestPaths.tinyRerankerModel.path
    static let tasks = repository.appendingPathComponent("tasks")
    static let sharedData = TestPaths.shared.appendingPathComponent("data")

    static func task(_ name: String) -> String { tasks.appendingPathComponent(name).path }

    /// A fresh temporary folder.
    static func temporaryDirectory() throws -> URL { try TestPaths.temporaryDirectory(prefix: "eval-tests") }

    /// Writes `text` to a file in `directory`.
    @discardableResult
    static func write(_ text: String, to name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url
    }
}

/// The golden file written by Scripts/make_metric_goldens.py (`Tests/Fixtures/metrics/goldens.json`).
enum Goldens {
    /// Parsed on each use (41 KB): a stored `[String: Any]` global would not be `Sendable`.
    static var root: [String: Any] { try! GoldenFile.dictionary(at: "metrics/goldens.json") }

    static func cases(_ key: String) -> [[String: Any]] { root[key] as! [[String: Any]] }

    static func doubles(_ value: Any?) -> [Double] { (value as! [NSNumber]).map(\.doubleValue) }
    static func ints(_ value: Any?) -> [Int] { (value as! [NSNumber]).map(\.intValue) }
    static func double(_ value: Any?) -> Double { (value as! NSNumber).doubleValue }
}

/// Largest absolute difference seen, for the report line each golden test prints.
struct DifferenceTracker {
    private(set) var maximum = 0.0
    let tolerance: Double

    init(tolerance: Double = 1e-6) { self.tolerance = tolerance }

    mutating func check(_ actual: Double, _ expected: Double, _ what: @autoclosure () -> String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        let difference = abs(actual - expected)
        maximum = max(maximum, difference)
        #expect(difference <= tolerance, "\(what()): \(actual) vs golden \(expected)", sourceLocation: sourceLocation)
    }
}
