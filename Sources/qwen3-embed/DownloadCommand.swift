import ArgumentParser
import Foundation
import Hub

/// `qwen3-embed download ID [--revision R] [--include GLOB]`: fetches a model into the shared Hugging Face
/// cache (reusable by transformers and sentence-transformers) and prints its snapshot directory.
struct DownloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Download a model from the Hugging Face Hub into the shared cache; prints the snapshot directory.",
        discussion: """
            Fetches config, tokenizer and weights (all *.safetensors, or the only *.gguf) unless --include \
            chooses the weight files. Files already in the cache are reused; interrupted downloads resume; \
            every file is checked against its ETag (sha256 for LFS files). Environment: HF_HOME, HF_HUB_CACHE, \
            HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE (cache only).
            """)

    @Argument(help: "Hub id, e.g. Qwen/Qwen3-Embedding-0.6B (optionally @revision).")
    var id: String

    @Option(help: "Branch, tag or commit (default main).")
    var revision: String?

    @Option(help: "Glob of weight files to fetch instead of the default choice (repeatable), e.g. '*Q8_0.gguf'.")
    var include: [String] = []

    func run() async throws {
        var reference = try ModelReference(parsing: id)
        if let revision {
            guard !id.contains("@") || reference.revision == revision else {
                throw CommandLineError("the id names revision '\(reference.revision)' but --revision says '\(revision)'")
            }
            reference = try ModelReference(repository: reference.repository, revision: revision)
        }
        let bar = ByteProgress(label: "downloading \(reference)")
        let snapshot = try await HubClient().snapshot(reference, include: include) { bar.update($0) }
        try printOutput(snapshot.directory)
    }
}

/// A progress bar in MiB over `Progress`, drawn once the total is known.
struct ByteProgress: Sendable {
    let label: String

    func update(_ report: DownloadProgress) {
        guard let total = report.totalBytes, total > 0 else { return }
        let mebibyte: Int64 = 1 << 20
        Progress(label: "\(label) (MiB)", total: Int((total + mebibyte - 1) / mebibyte))
            .update(Int(report.completedBytes == total ? (total + mebibyte - 1) / mebibyte : report.completedBytes / mebibyte))
    }
}
