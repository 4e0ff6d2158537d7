import ArgumentParser
import Foundation
import Kernels

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
            BenchCommand.self, ServeCommand.self, EvalCommand.self, DownloadCommand.self, MergeCommand.self, MergeAdapterCommand.self, QuantizeCommand.self,
            KernelBenchCommand.self, TrainCommand.self, MineCommand.self, FilterCommand.self, SynthesizeCommand.self,
        ]
    )

    /// Parses and runs the command, keeping every failure to a single line on stderr.
    ///
    /// Output is checked to the end: after the command, whatever `print` buffered is flushed and a
    /// failure (closed or full stdout, a reader that went away) is an error like any other. When stderr
    /// itself is unusable the error is lost but the exit status still says the command failed.
    static func main() async {
        StandardStreams.prepare()
        do {
            try validateEnvironment()
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            try StandardStreams.flushPrintedOutput()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version: their text goes to stdout, checked like any output.
                do {
                    try StandardStreams.writeOutput(fullMessage(for: error) + "\n")
                    Foundation.exit(0)
                } catch {
                    fail(with: error, code: 1)
                }
            }
            fail(with: error, code: code.rawValue == 0 ? 1 : code.rawValue)
        }
    }

    /// Writes `error` as one line on stderr (if stderr can take it) and exits with `code`.
    private static func fail(with error: Error, code: Int32) -> Never {
        let text: String
        if let localized = error as? LocalizedError, let description = localized.errorDescription {
            text = description
        } else {
            text = message(for: error)
        }
        let oneLine = Self.oneLine(text)
        StandardStreams.writeDiagnostic("qwen3-embed: error: \(oneLine)\n")
        // _exit: exit() would flush stdio's stdout again, which may be the very stream that failed.
        _exit(code)
    }

    /// `text` on one line. ArgumentParser lists the allowed values of an option with many of them as
    /// indented `- value` lines (an invalid `quantize --type`); those become one comma-separated list.
    static func oneLine(_ text: String) -> String {
        var line = ""
        var inList = false
        for part in text.split(whereSeparator: \.isNewline) {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("- ") {
                line += (inList ? ", " : " ") + trimmed.dropFirst(2)
                inList = true
            } else {
                // Other lines joined exactly as they are (messages tests match keep their spacing).
                line += (line.isEmpty ? "" : " ") + part
                inList = false
            }
        }
        return line
    }

    /// Refuses malformed `QWEN3_THREADS` / `QWEN3_KERNEL` before any work, so a typo is not silently
    /// replaced by the default (the kernels read them cheaply on the hot path without validating).
    private static func validateEnvironment() throws {
        if let problem = KernelEnvironment.problem() { throw CommandLineError(problem) }
    }
}
