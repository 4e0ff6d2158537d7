import Foundation
import TestSupport
@testable import Tokenizer

/// Where the reference files are: the shared tokenizer files beside the repository clone
/// (`../shared/reference/tokenizer`, as in CI), and the committed corpus.
enum Paths {
    static let packageRoot = TestPaths.repositoryRoot
    static let shared = TestPaths.shared.appendingPathComponent("reference/tokenizer")
    static let embedding = shared.appendingPathComponent("qwen3-embedding")
    static let reranker = shared.appendingPathComponent("qwen3-reranker")
    static let corpus = TestPaths.fixture("tokenizer/corpus.json")
}

/// One string of `Tests/Fixtures/tokenizer/corpus.json` (written by `Scripts/tokenizer_corpus.py`) with
/// the ids Hugging Face `tokenizers` gives it.
struct CorpusEntry: Decodable, Sendable {
    let text: String?
    /// Raw bytes (possibly invalid UTF-8), for entries without `text`.
    let bytes_b64: String?
    /// Python's `bytes.decode("utf-8", errors="replace")` of `bytes_b64`.
    let decoded: String?
    let ids_embedding: [Int]
    let ids_reranker: [Int]
    let ids_no_special: [Int]
    let ids_truncated_8: [Int]

    /// The input as a Swift program reading those bytes would see it: invalid UTF-8 becomes U+FFFD.
    var input: String {
        if let text { return text }
        return String(decoding: Data(base64Encoded: bytes_b64!)!, as: UTF8.self)
    }
}

/// Tokenizers and corpus, loaded once for all tests.
enum Shared {
    static let embedding = Result { try Tokenizer.load(directory: Paths.embedding) }
    static let reranker = Result { try Tokenizer.load(directory: Paths.reranker) }
    /// The reranker through the vocab.json + merges.txt + tokenizer_config.json fallback.
    static let rerankerFallback = Result { () throws -> Tokenizer in
        let directory = try temporaryDirectory()
        for name in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(
                at: Paths.reranker.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        return try Tokenizer.load(directory: directory)
    }
    static let corpus = Result { try GoldenFile.decode([CorpusEntry].self, at: "tokenizer/corpus.json") }
}

/// A fresh empty directory, with optional files.
func temporaryDirectory(_ files: [String: String] = [:]) throws -> URL {
    let directory = try TestPaths.temporaryDirectory(prefix: "tokenizer-tests")
    for (name, contents) in files {
        try Data(contents.utf8).write(to: directory.appendingPathComponent(name))
    }
    return directory
}
