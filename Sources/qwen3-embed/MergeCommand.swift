import ArgumentParser
import Foundation
import Hub
import ModelTools

/// `qwen3-embed merge`: SLERP or weighted linear merging of checkpoints of one architecture (the Qwen3
/// Embedding paper's stage 3), written as safetensors in the inputs' dtype with config and tokenizer.
struct MergeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge checkpoints (SLERP or linear); prints a JSON summary.",
        discussion: """
            slerp interpolates two checkpoints tensor by tensor along the great circle (mergekit's method: the \
            angle from the normalised tensors, linear where they are nearly parallel), t=0 giving MODEL_A and \
            t=1 MODEL_B. linear takes the weighted mean Σ wᵢ·xᵢ / Σ wᵢ of two or more checkpoints: --weights, \
            else (1−t, t) for two models and equal weights for more. Models may be directories or Hub ids.
            """)

    @Option(help: "slerp (two models) or linear (two or more).")
    var method: MergeMethod.Kind = .slerp

    @Option(help: "Interpolation position in [0, 1] (slerp, or linear with two models and no --weights).")
    var t: Double = 0.5

    @Option(help: "Comma-separated weights for linear, one per model, e.g. 1,1,2.")
    var weights: String?

    @Option(help: "Directory to create (must not exist or be empty).")
    var output: String

    @Argument(help: "Model directories or Hub ids: MODEL_A MODEL_B [MODEL_C ...].")
    var models: [String] = []

    func validate() throws {
        guard models.count >= 2 else { throw ValidationError("give at least two models to merge") }
        guard method == .linear || weights == nil else { throw ValidationError("--weights applies to --method linear only") }
    }

    func run() async throws {
        let mergeMethod: MergeMethod
        if method == .slerp {
            mergeMethod = .slerp(t: t)
        } else if let weights {
            let parsed = weights.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard parsed.allSatisfy({ $0 != nil }) else { throw CommandLineError("--weights must be numbers separated by commas, got '\(weights)'") }
            mergeMethod = .linear(weights: parsed.map { $0! })
        } else {
            mergeMethod = .linear(weights: models.count == 2 ? [1 - t, t] : Array(repeating: 1, count: models.count))
        }
        try mergeMethod.validate(checkpointCount: models.count)

        var directories: [String] = []
        for model in models {
            let bar = ByteProgress(label: "downloading \(model)")
            directories.append(try await resolveModel(model) { bar.update($0) })
        }
        let inputs = directories.map { URL(fileURLWithPath: $0) }
        let status = Progress(label: "merging", total: 1)
        status.note("merging \(directories.joined(separator: " + ")) (\(mergeMethod))")
        var bar: Progress?
        let summary = try CheckpointMerger().merge(inputs, method: mergeMethod, output: URL(fileURLWithPath: output)) { done, total in
            if bar == nil { bar = Progress(label: "merging", total: total) }
            bar?.update(done)
        }
        let object: [String: Any] = [
            "output": output, "method": mergeMethod.description, "tensors": summary.tensorCount,
            "files": summary.files, "slerp_linear_fallbacks": summary.linearFallbacks.count,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try printOutput(String(decoding: data, as: UTF8.self))
    }
}
