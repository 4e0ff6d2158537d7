import Foundation

/// Locations shared by every test target, found from this file's place in the repository so that
/// the tests run from any working directory.
public enum TestPaths {
    /// The repository's root folder (this file is `Tests/TestSupport/TestSupport.swift`).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures`, the committed small models, goldens and data the tests read.
    public static let fixtures: URL = repositoryRoot.appendingPathComponent("Tests/Fixtures")

    /// The committed tiny embedding model (`Tests/Fixtures/tiny-qwen3-embedding`, Scripts/make_fixtures.py).
    public static let tinyEmbeddingModel: URL = fixture("tiny-qwen3-embedding")

    /// The committed tiny reranker (`Tests/Fixtures/tiny-qwen3-reranker`, Scripts/make_fixtures.py).
    public static let tinyRerankerModel: URL = fixture("tiny-qwen3-reranker")

    /// The `shared` folder beside the repository clone (reference tokenizers, real evaluation data),
    /// where CI puts the files too large to commit.
    public static let shared: URL = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")

    /// A file or folder under `Tests/Fixtures`.
    ///
    /// - Parameter relativePath: The path below `Tests/Fixtures`, with `/` separators (`golden/quant.json`).
    public static func fixture(_ relativePath: String) -> URL {
        fixtures.appendingPathComponent(relativePath)
    }

    /// A new empty folder under the system's temporary directory, unique to this call.
    ///
    /// - Parameter prefix: The start of the folder's name, so that a leftover folder names the suite that made it.
    public static func temporaryDirectory(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Golden files: JSON written by the Python reference scripts under `Scripts/` and committed in
/// `Tests/Fixtures`, read the same way by every test target.
public enum GoldenFile {
    /// Decodes the JSON file at `relativePath` below `Tests/Fixtures`.
    ///
    /// - Throws: The read error (which names the file) if the golden is missing, or the decoding error
    ///   if it does not have the shape of `type` (the script and the test disagree).
    public static func decode<Value: Decodable>(_ type: Value.Type, at relativePath: String) throws -> Value {
        try JSONDecoder().decode(type, from: Data(contentsOf: TestPaths.fixture(relativePath)))
    }

    /// The JSON file at `relativePath` below `Tests/Fixtures` as Foundation objects (`[String: Any]`,
    /// `[Any]`, `NSNumber`, …), for goldens whose tests walk them by key.
    public static func jsonObject(at relativePath: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.fixture(relativePath)))
    }

    /// The JSON object (dictionary) at `relativePath` below `Tests/Fixtures`.
    ///
    /// - Throws: `GoldenFileError.notAnObject` if the file holds another kind of JSON value.
    public static func dictionary(at relativePath: String) throws -> [String: Any] {
        guard let object = try jsonObject(at: relativePath) as? [String: Any] else {
            throw GoldenFileError.notAnObject(relativePath)
        }
        return object
    }
}

/// A golden file that does not have the shape its test expects.
public enum GoldenFileError: Error, CustomStringConvertible {
    /// The file's top-level JSON value is not an object.
    case notAnObject(String)

    /// A one-line message naming the file.
    public var description: String {
        switch self {
        case .notAnObject(let path): "Tests/Fixtures/\(path): the top-level JSON value is not an object"
        }
    }
}
