// consumer MODEL_DIR TEXT: embeds TEXT as a document with the library's Embedder and prints the vector as
// one JSON array (shortest round-trip decimal of each Float, so the numbers compare exactly).
import Foundation
import Qwen3Embedding

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: consumer MODEL_DIR TEXT\n".utf8))
    exit(2)
}
do {
    let embedder = try Embedder(modelAt: URL(fileURLWithPath: arguments[1], isDirectory: true))
    let vectors = try await embedder.embed([arguments[2]])
    print("[" + vectors[0].map { "\($0)" }.joined(separator: ", ") + "]")
} catch {
    FileHandle.standardError.write(Data("consumer: \(error)\n".utf8))
    exit(1)
}
