import Foundation
import TestSupport
@testable import Hub

/// The tiny embedding model, for realistic file names and sizes.
let fixtureDirectory = TestPaths.tinyEmbeddingModel.path

/// A fresh empty directory under the system's temporary directory.
func temporaryDirectory() throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("hub-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The bytes of a fixture file.
func fixtureBytes(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: (fixtureDirectory as NSString).appendingPathComponent(name))))
}

/// A repository shaped like Qwen/Qwen3-Embedding-0.6B: small files in git, tokenizer and weights in LFS,
/// plus files a model does not need.
func tinyRepository(commit: String = "0123456789abcdef0123456789abcdef01234567") throws -> MockHub.Repository {
    var files: [String: MockHub.File] = [:]
    for name in ["config.json", "tokenizer_config.json", "model.safetensors.index.json"] {
        files[name] = MockHub.File(try fixtureBytes(name), isLFS: false)
    }
    for name in ["tokenizer.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
        files[name] = MockHub.File(try fixtureBytes(name), isLFS: true)
    }
    files["README.md"] = MockHub.File(Array("# tiny\n".utf8), isLFS: false)
    files["1_Pooling/config.json"] = MockHub.File(Array("{\"pooling_mode_lasttoken\": true}\n".utf8), isLFS: false)
    files["onnx/model.onnx"] = MockHub.File([UInt8](repeating: 7, count: 4096), isLFS: true)
    return MockHub.Repository(commit: commit, files: files)
}

/// The files a model download should fetch from `tinyRepository()`.
let tinyModelFiles = [
    "1_Pooling/config.json", "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
]

/// A configuration pointing at a mock Hub and a private cache.
func configuration(endpoint: String, cache: String, token: String? = nil, offline: Bool = false) -> HubConfiguration {
    var configuration = HubConfiguration(endpoint: endpoint, cacheDirectory: cache, token: token, isOffline: offline)
    configuration.connectTimeout = .milliseconds(500)  // a refused connection is retried until this expires
    return configuration
}

/// The `HubError` thrown by `body`, if any.
func hubError(_ body: () async throws -> Void) async -> HubError? {
    do {
        try await body()
        return nil
    } catch let error as HubError {
        return error
    } catch {
        return nil
    }
}
