import ArgumentParser
import Foundation
import Hub
import ModelFormats
import ModelTools

/// `qwen3-embed quantize`: writes a Hugging Face Qwen3-Embedding or Qwen3-Reranker model as one GGUF
/// file, with the tensor types, tokenizer and metadata llama.cpp's own converter and quantizer produce.
struct QuantizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a model as a GGUF file (F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K); prints a JSON summary.",
        discussion: """
            The file follows llama.cpp's conventions (architecture qwen3, pooling LAST for embedding \
            models, a two-row cls.output head with pooling RANK for rerankers) and its per-tensor type \
            rules: norms stay F32, q4_k_m uses Q6_K for the output head and for part of attn_v and \
            ffn_down, and rows that are not a whole number of blocks fall back to a smaller block type or \
            F16 as llama-quantize does. --kind auto treats a model named like Qwen3-Reranker as a reranker.
            """)

    @Option(help: "A Hugging Face model directory or a Hub id (Qwen/Qwen3-Embedding-0.6B[@revision]).")
    var model: String

    @Option(help: "Output type.")
    var type: GGUFFileType

    @Option(help: "The .gguf file to write (a regular file, replaced if it exists; never one of the model's own files).")
    var output: String

    @Option(help: "What the model is: auto tells a reranker by its name.")
    var kind: ModelKindOption = .auto

    @Option(help: "general.name in the file (default: the model's directory or repository name).")
    var name: String?

    func run() async throws {
        let fileType = type
        let directory = try await resolveModel(model) { ByteProgress(label: "downloading \(model)").update($0) }
        let converter = GGUFConverter(kind: kind.ggufKind, name: name)
        let started = Date()
        let bar = QuantizeProgress(label: "writing \(fileType.name)")
        let plan = try converter.convert(modelDirectory: directory, fileType: fileType, output: output) { bar.update($0) }
        bar.finish()
        for warning in Self.fallbackWarnings(plan) { StandardStreams.writeDiagnostic("qwen3-embed: warning: \(warning)\n") }
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        let object: [String: Any] = [
            "output": output, "type": fileType.rawValue, "kind": plan.kind.rawValue, "tensors": plan.tensors.count,
            "parameters": plan.parameterCount, "bytes": fileSize, "tensor_types": plan.typeCounts,
            "fallbacks": plan.fallbacks, "seconds": (Date().timeIntervalSince(started) * 1000).rounded() / 1000,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try printOutput(String(decoding: data, as: UTF8.self))
    }
}

extension QuantizeCommand {
    /// One sentence per (requested type, stored type, row length) group of tensors that did not get the
    /// requested type, naming them: the file is still what llama-quantize writes, but a user asking for
    /// q4_k_m should know which tensors are larger (or less compressed) than asked, and why.
    static func fallbackWarnings(_ plan: GGUFConversionPlan) -> [String] {
        var groups: [String: [String]] = [:]
        var order: [String] = []
        for tensor in plan.tensors where tensor.isFallback {
            let rowLength = tensor.layout.dimensions.first ?? 0
            let requested = tensor.requestedType.name
            let key = "\(tensor.layout.type.name) instead of the requested \(requested) (rows of \(rowLength) values are not a "
                + "multiple of \(requested)'s \(tensor.requestedType.blockSize)-value blocks)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(tensor.layout.name)
        }
        return order.map { key in
            let names = groups[key]!
            return "\(names.count) tensor\(names.count == 1 ? "" : "s") stored as \(key): \(names.joined(separator: ", "))"
        }
    }
}

/// A percentage bar with the tensor being written, on stderr when it is a terminal; redrawn only when
/// the percentage changes, so millions of small chunks cost no terminal traffic. Elsewhere, one line
/// when the file is written.
private final class QuantizeProgress: @unchecked Sendable {
    private let label: String
    private let enabled = isatty(2) == 1
    private var shown = -1

    init(label: String) { self.label = label }

    func update(_ progress: GGUFConversionProgress) {
        guard enabled, progress.totalValues > 0 else { return }
        let percent = Int(Double(progress.completedValues) / Double(progress.totalValues) * 100)
        guard percent != shown else { return }
        shown = percent
        let width = 30, filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        // Pad so a shorter tensor name overwrites the previous one.
        let tensor = progress.tensor.padding(toLength: 32, withPad: " ", startingAt: 0)
        StandardStreams.writeDiagnostic("\r\(label) [\(bar)] \(percent)% \(tensor)")
    }

    func finish() {
        guard enabled else {
            // Not a terminal (a log, CI): the milestone as one plain line instead of a bar.
            StandardStreams.writeDiagnostic("qwen3-embed: \(label) done\n")
            return
        }
        guard shown >= 0 else { return }
        StandardStreams.writeDiagnostic("\n")
    }
}
