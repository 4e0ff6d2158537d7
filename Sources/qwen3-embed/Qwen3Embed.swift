import ArgumentParser
import Foundation

/// `qwen3-embed`: embeddings, reranking and tokenisation with Qwen3 models from the command line.
///
/// Output is JSON Lines on stdout, one object per input in input order; diagnostics go to stderr.
/// Errors print one line on stderr and exit non-zero.
@main
struct Qwen3Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qwen3-embed",
        abstract: "Qwen3-Embedding and Qwen3-Reranker inference on the CPU.",
        version: "0.1.0",  // the same version the server reports on /info
        subcommands: [
            EmbedCommand.self, RerankCommand.self, TokenizeCommand.self, SimilarityCommand.self,
            BenchCommand.self, ServeCommand.self, EvalCommand.self, DownloadCommand.self, MergeCommand.self, QuantizeCommand.self,
            KernelBenchCommand.self,
        ]
    )

    /// Parses and runs the command, keeping every failure to a single line on stderr.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help and --version print their text and exit 0
            }
            let message: String
            if let localized = error as? LocalizedError, let description = localized.errorDescription {
                message = description
            } else {
                message = self.message(for: error)
            }
            let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
            FileHandle.standardError.write(Data("qwen3-embed: error: \(oneLine)\n".utf8))
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}
