import Foundation
import ModelFormats
import Qwen3

/// What a Qwen3 checkpoint is used for, which decides how llama.cpp pools its output.
public enum GGUFModelKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Qwen3-Embedding: the last token's final hidden state (`pooling_type` LAST = 3).
    case embedding
    /// Qwen3-Reranker: a two-row `cls.output` head scoring "yes" against "no" at the last token
    /// (`pooling_type` RANK = 4), as llama.cpp's converter builds it from the LM head.
    case reranker

    /// llama.cpp's `llama_pooling_type` for this kind.
    public var poolingType: UInt32 { self == .embedding ? 3 : 4 }

    /// The `--kind` spelling.
    public var description: String { rawValue }
}

/// One tensor of the GGUF file: where its values come from and how they are stored.
public struct GGUFTensorPlan: Sendable, Equatable {
    /// Name, stored type and ggml dimensions in the output.
    public var layout: GGUFTensorLayout
    /// The checkpoint tensor the values are read from.
    public var source: String
    /// Rows of the source in output order (`cls.output` takes the "yes" and "no" rows of the LM head);
    /// nil for the whole tensor.
    public var sourceRows: [Int]?
    /// The type llama.cpp's rules ask for before the shape check; differs from `layout.type` after a fallback.
    public var requestedType: GGMLType

    /// Whether the stored type is a fallback for rows that are not a whole number of blocks.
    public var isFallback: Bool { requestedType != layout.type }
}

/// Everything a conversion writes, decided before any tensor data is read.
public struct GGUFConversionPlan: Sendable {
    /// The model kind (given or detected).
    public var kind: GGUFModelKind
    /// The requested file type.
    public var fileType: GGUFFileType
    /// The metadata, in file order.
    public var metadata: GGUFMetadata
    /// The tensors, in file order.
    public var tensors: [GGUFTensorPlan]

    /// Total number of values in the tensors (what `general.size_label` summarises).
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.layout.elementCount } }
    /// Bytes of tensor data, without alignment padding.
    public var dataByteCount: Int { tensors.reduce(0) { $0 + $1.layout.byteCount } }
    /// Names of the tensors stored in a fallback type.
    public var fallbacks: [String] { tensors.filter(\.isFallback).map(\.layout.name) }
    /// Number of tensors of each stored type, by type name.
    public var typeCounts: [String: Int] { tensors.reduce(into: [:]) { $0[$1.layout.type.name, default: 0] += 1 } }
}

/// How far a conversion has got.
public struct GGUFConversionProgress: Sendable {
    /// The tensor being written.
    public var tensor: String
    /// Values written so far, over all tensors.
    public var completedValues: Int
    /// Values to write in total.
    public var totalValues: Int
}

/// Converts a Hugging Face Qwen3 model directory (config.json, safetensors, tokenizer files) into one
/// GGUF file that llama.cpp loads as `qwen3`, with the metadata, tensor names and types its own
/// `convert_hf_to_gguf.py` (followed by `llama-quantize` for the quantized types) would produce.
///
/// - Tensors: `token_embd`, `blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, attn_q_norm,
///   attn_k_norm, ffn_norm, ffn_gate, ffn_up, ffn_down}`, `output_norm`, and `output` for an untied
///   LM head; dimensions reversed from PyTorch (ne0 = row length). A reranker has no `output` but a
///   `cls.output` of two rows, the LM head's rows for "yes" then "no" (llama.cpp applies a softmax
///   over them, so the first output is P(yes) = sigmoid(logit_yes − logit_no)).
/// - Types: see `LlamaTensorTypes`. Values are read as Float (exact for bf16/f16/f32 checkpoints) and
///   quantized directly, without llama.cpp's intermediate F16 file.
/// - Metadata: `general.*`, the `qwen3.*` hyper-parameters, pooling type, and the tokenizer (see
///   `GGUFVocabulary`). An embedding model always gets `tokenizer.ggml.add_eos_token = true`, since
///   Qwen3-Embedding pools the hidden state of the appended end-of-text token (llama.cpp #14252).
public struct GGUFConverter: Sendable {
    /// The kind to write; nil detects it as llama.cpp's converter does (a "qwen3-reranker" model name
    /// or README title, or a sequence-classification architecture), else embedding.
    public var kind: GGUFModelKind?
    /// `general.name`; nil uses the model directory's name (the repository name for a Hub cache snapshot).
    public var name: String?
    /// Values read, quantized and written per step (bounds memory whatever the model size).
    public var chunkValues = 1 << 20

    /// Creates a converter.
    public init(kind: GGUFModelKind? = nil, name: String? = nil) {
        self.kind = kind
        self.name = name
    }

    /// The file `convert` would write for `modelDirectory`, without reading tensor data.
    public func plan(modelDirectory: String, fileType: GGUFFileType) throws -> GGUFConversionPlan {
        try prepare(modelDirectory, fileType: fileType).plan
    }

    /// Writes `output` (replacing it if present, atomically) and returns what was written.
    /// `progress` is called after every chunk of values.
    @discardableResult
    public func convert(modelDirectory: String, fileType: GGUFFileType, output: String,
                        progress: ((GGUFConversionProgress) -> Void)? = nil) throws -> GGUFConversionPlan {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ModelToolsError.invalidArgument("the output \(output) is a directory; give a file name such as model-\(fileType.name).gguf")
        }
        // Before any work: never replace a device node or a file of the model being converted.
        try OutputPath.requireWritable(output, inputs: [modelDirectory])
        let (plan, checkpoint) = try prepare(modelDirectory, fileType: fileType)
        let writer = try GGUFWriter(path: output, metadata: plan.metadata, tensors: plan.tensors.map(\.layout))
        let total = plan.parameterCount
        var completed = 0
        var floats: [Float] = []
        var bytes: [UInt8] = []
        for tensor in plan.tensors {
            guard let source = checkpoint.tensor(named: tensor.source) else {
                throw ModelFormatError.missingTensor(name: tensor.source, directory: modelDirectory)
            }
            let layout = tensor.layout
            let rowLength = max(1, layout.dimensions[0])
            let rowBytes = layout.type.rowByteCount(rowLength)!
            let rowsPerChunk = max(1, chunkValues / rowLength)
            let rowCount = layout.rowCount
            var start = 0
            while start < rowCount {
                let rows = min(rowsPerChunk, rowCount - start)
                let valueCount = rows * rowLength
                if floats.count < valueCount { floats = [Float](repeating: 0, count: valueCount) }
                if bytes.count < rows * rowBytes { bytes = [UInt8](repeating: 0, count: rows * rowBytes) }
                floats.withUnsafeMutableBufferPointer { buffer in
                    let base = buffer.baseAddress!
                    if let selection = tensor.sourceRows {
                        for (offset, row) in selection[start..<(start + rows)].enumerated() {
                            source.copyElements(from: row * rowLength, count: rowLength, into: base + offset * rowLength)
                        }
                    } else {
                        source.copyElements(from: start * rowLength, count: valueCount, into: base)
                    }
                }
                try floats.withUnsafeBufferPointer { values in
                    try bytes.withUnsafeMutableBytes { output in
                        let destination = UnsafeMutableRawBufferPointer(rebasing: output[..<(rows * rowBytes)])
                        do {
                            try GGMLQuantizer.encode(UnsafeBufferPointer(rebasing: values[..<valueCount]), rowLength: rowLength,
                                                     as: layout.type, into: destination)
                        } catch {
                            throw ModelToolsError.invalidArgument("tensor \"\(tensor.source)\": \(error.localizedDescription)")
                        }
                        try writer.write(UnsafeRawBufferPointer(destination))
                    }
                }
                start += rows
                completed += valueCount
                progress?(GGUFConversionProgress(tensor: layout.name, completedValues: completed, totalValues: total))
            }
        }
        try writer.finish()
        return plan
    }

    // MARK: Planning

    private func prepare(_ directory: String, fileType: GGUFFileType) throws -> (plan: GGUFConversionPlan, checkpoint: SafetensorsCheckpoint) {
        // Also refuses FIFOs and devices among the model's files before anything opens them.
        if case .gguf(let file) = try ModelLocation(path: directory) {
            throw ModelToolsError.invalidArgument(
                "\(file) is already a GGUF file; converting GGUF to GGUF (requantization) is not supported: "
                + "convert from the Hugging Face safetensors model directory instead")
        }
        let configuration = try Self.configuration(directory)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let kind = self.kind ?? Self.detectKind(directory, architecture: configuration.architectures.first,
                                                nameOrPath: configuration.nameOrPath)
        let vocabulary = try GGUFVocabulary(directory: directory, vocabularySize: configuration.vocabularySize,
                                            specialTokenIDs: configuration.specialTokenIDs)

        // Names and shapes come from the table the GGUF loader binds by, so what is written here is
        // exactly what loading expects. Qwen3ForCausalLM names carry "model.", bare Qwen3Model ones do not.
        let prefix = Qwen3TensorName.huggingFacePrefix(of: checkpoint)
        func entry(_ name: Qwen3TensorName, source: String? = nil) -> (name: Qwen3TensorName, source: String, shape: [Int]) {
            (name, source ?? name.huggingFaceName(prefix: prefix), name.shape(for: configuration))
        }
        var expected = Qwen3TensorName.decoder(layerCount: configuration.layerCount).map { entry($0) }

        // The LM head: a real one unless tied; a tied model reads the head from the embedding.
        let headName = Qwen3TensorName.languageModelHead.huggingFaceName(prefix: prefix)
        let hasHead = checkpoint.tensor(named: headName) != nil
        let tied = configuration.tieWordEmbeddings
        let headSource: String? = tied ? Qwen3TensorName.tokenEmbedding.huggingFaceName(prefix: prefix) : (hasHead ? headName : nil)
        var classifierRows: [Int]?
        switch kind {
        case .embedding:
            if !tied && hasHead { expected.append(entry(.languageModelHead)) }
        case .reranker:
            guard let headSource else {
                throw ModelFormatError.missingTensor(name: "\(headName) (a reranker scores with its LM head rows for \"yes\" and \"no\")", directory: directory)
            }
            guard let yes = vocabulary.ids["yes"], let no = vocabulary.ids["no"] else {
                throw ModelToolsError.invalidArgument("the tokenizer in \(directory) has no \"yes\" and \"no\" tokens, which a Qwen3 reranker scores")
            }
            // llama.cpp's converter stacks [yes, no]: its softmax then gives P(yes) first.
            classifierRows = [yes, no]
            expected.append(entry(.classifier, source: headSource))
        }

        var known = Set(expected.map(\.source))
        if hasHead { known.insert(headName) }  // dropped when tied or replaced by cls.output
        for name in checkpoint.tensorNames where !known.contains(name) && !name.hasSuffix("rotary_emb.inv_freq") {
            throw ModelToolsError.invalidArgument(
                "tensor \"\(name)\" in \(directory) is not part of a Qwen3 model this converter maps (biases, adapters and other architectures are not supported)")
        }
        for entry in expected { _ = try checkpoint.requireTensor(named: entry.source, shape: entry.shape) }

        // GGUF lists dimensions row length first; the classifier keeps only its labels' rows.
        let dimensions: [[Int]] = expected.map { entry in
            entry.name == .classifier ? [configuration.hiddenSize, 2] : Array(entry.shape.reversed())
        }
        let choices = LlamaTensorTypes.choose(
            zip(expected, dimensions).map { LlamaTensorTypes.Input(name: $0.name.ggufName, dimensions: $1) },
            fileType: fileType, layerCount: configuration.layerCount)
        let tensors = zip(zip(expected, dimensions), choices).map { pair, choice in
            GGUFTensorPlan(layout: GGUFTensorLayout(name: pair.0.name.ggufName, type: choice.stored, dimensions: pair.1),
                           source: pair.0.source, sourceRows: pair.0.name == .classifier ? classifierRows : nil,
                           requestedType: choice.requested)
        }
        let parameterCount = tensors.reduce(0) { $0 + $1.layout.elementCount }
        let metadata = try Self.metadata(configuration, vocabulary: vocabulary, kind: kind, fileType: fileType,
                                         name: name ?? Self.modelName(directory), parameterCount: parameterCount)
        return (GGUFConversionPlan(kind: kind, fileType: fileType, metadata: metadata, tensors: tensors), checkpoint)
    }

    /// The metadata in the order llama.cpp's converter writes it. Values the configuration only has by
    /// default (context length, RMSNorm epsilon, RoPE base, head dimension) are written only when
    /// `config.json` states them, as llama.cpp's converter does, so that llama.cpp applies its own defaults.
    static func metadata(_ configuration: Qwen3Configuration, vocabulary: GGUFVocabulary, kind: GGUFModelKind, fileType: GGUFFileType,
                         name: String, parameterCount: Int) throws -> GGUFMetadata {
        let c = configuration
        var metadata = GGUFMetadata()
        metadata["general.architecture"] = .string("qwen3")
        metadata["general.type"] = .string("model")
        metadata["general.name"] = .string(name)
        metadata["general.size_label"] = .string(sizeLabel(parameterCount))
        metadata["qwen3.block_count"] = .uint32(UInt32(c.layerCount))
        if c.statedValues.contains(.maxPositionEmbeddings) {
            metadata["qwen3.context_length"] = .uint32(UInt32(c.maxPositionEmbeddings))
        }
        metadata["qwen3.embedding_length"] = .uint32(UInt32(c.hiddenSize))
        metadata["qwen3.feed_forward_length"] = .uint32(UInt32(c.intermediateSize))
        metadata["qwen3.attention.head_count"] = .uint32(UInt32(c.attentionHeads))
        metadata["qwen3.attention.head_count_kv"] = .uint32(UInt32(c.keyValueHeads))
        if let scaling = c.ropeScaling {
            metadata["qwen3.rope.scaling.type"] = .string(scaling.kind.rawValue)
            metadata["qwen3.rope.scaling.factor"] = .float32(Float(scaling.factor))
            if let original = scaling.originalContextLength {
                metadata["qwen3.rope.scaling.original_context_length"] = .uint32(UInt32(original))
            }
        }
        if c.statedValues.contains(.ropeTheta) { metadata["qwen3.rope.freq_base"] = .float32(Float(c.ropeTheta)) }
        if c.statedValues.contains(.rmsNormEpsilon) {
            metadata["qwen3.attention.layer_norm_rms_epsilon"] = .float32(Float(c.rmsNormEpsilon))
        }
        if c.statedValues.contains(.headDimension) {
            metadata["qwen3.attention.key_length"] = .uint32(UInt32(c.headDimension))
            metadata["qwen3.attention.value_length"] = .uint32(UInt32(c.headDimension))
        }
        metadata["general.file_type"] = .uint32(fileType.llamaFileType)
        metadata["qwen3.pooling_type"] = .uint32(kind.poolingType)
        if kind == .reranker {
            metadata["qwen3.classifier.output_labels"] = .array(.string, [.string("yes"), .string("no")])
            // llama.cpp's server fills {query} and {document} into this template for /rerank.
            metadata["tokenizer.chat_template.rerank"] = .string(rerankTemplate)
            metadata["tokenizer.chat_templates"] = .array(.string, [.string("rerank")])
        }
        metadata["general.quantization_version"] = .uint32(2)

        metadata["tokenizer.ggml.model"] = .string("gpt2")
        metadata["tokenizer.ggml.pre"] = .string("qwen2")
        metadata["tokenizer.ggml.tokens"] = .array(.string, vocabulary.tokens.map { .string($0) })
        metadata["tokenizer.ggml.token_type"] = .array(.int32, vocabulary.types.map { .int32($0) })
        metadata["tokenizer.ggml.merges"] = .array(.string, vocabulary.merges.map { .string($0) })
        var specialIDs = vocabulary.specialIDs
        var addFlags = vocabulary.addFlags
        if kind == .embedding {
            Self.requireEndOfText(&specialIDs, &addFlags, vocabulary: vocabulary)
        }
        for (role, id) in specialIDs {
            guard let key = GGUFVocabulary.idKeys[role], id < c.vocabularySize else { continue }
            metadata[key] = .uint32(UInt32(id))
        }
        for (role, value) in addFlags {
            guard let key = GGUFVocabulary.addKeys[role] else { continue }
            metadata[key] = .bool(value)
        }
        switch vocabulary.chatTemplate {
        case .single(let template)?:
            metadata["tokenizer.chat_template"] = .string(template)
        case .named(let templates)?:
            // gguf-py's add_chat_template: names reduced to [A-Za-z0-9_], "default" is the plain template.
            var names: [GGUFValue] = kind == .reranker ? [.string("rerank")] : []
            for (name, template) in templates {
                let cleaned = String(name.unicodeScalars.map { scalar -> Character in
                    scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) ? Character(scalar) : "_"
                })
                if cleaned == "default" {
                    metadata["tokenizer.chat_template"] = .string(template)
                } else if !cleaned.isEmpty {
                    metadata["tokenizer.chat_template.\(cleaned)"] = .string(template)
                    names.append(.string(cleaned))
                }
            }
            if !names.isEmpty { metadata["tokenizer.chat_templates"] = .array(.string, names) }
        case nil:
            break
        }
        return metadata
    }

    /// Makes llama.cpp append the end-of-text token to every embedding input, as Qwen3-Embedding's
    /// tokenizer does. With a post-processor template this is already so (EOS is the appended token);
    /// without one (vocab.json + merges.txt) the EOS becomes `<|endoftext|>` and the configured EOS,
    /// if different, moves to EOT, as gguf-py does when a template overrides the EOS.
    static func requireEndOfText(_ specialIDs: inout [(role: String, id: Int)], _ addFlags: inout [(role: String, value: Bool)],
                                 vocabulary: GGUFVocabulary) {
        if let index = addFlags.firstIndex(where: { $0.role == "eos" }), addFlags[index].value { return }
        if let endOfText = vocabulary.ids["<|endoftext|>"] {
            if let index = specialIDs.firstIndex(where: { $0.role == "eos" }) {
                let previous = specialIDs[index].id
                specialIDs[index].id = endOfText
                if previous != endOfText, !specialIDs.contains(where: { $0.role == "eot" }) { specialIDs.append(("eot", previous)) }
            } else {
                specialIDs.append(("eos", endOfText))
            }
        }
        if let index = addFlags.firstIndex(where: { $0.role == "eos" }) {
            addFlags[index].value = true
        } else {
            addFlags.append(("eos", true))
        }
    }

    /// The Qwen3-Reranker prompt llama.cpp's converter stores as the `rerank` chat template.
    static let rerankTemplate = """
        <|im_start|>system
        Judge whether the Document meets the requirements based on the Query and the Instruct provided. \
        Note that the answer can only be "yes" or "no".<|im_end|>
        <|im_start|>user
        <Instruct>: Given a web search query, retrieve relevant passages that answer the query
        <Query>: {query}
        <Document>: {document}<|im_end|>
        <|im_start|>assistant
        <think>

        </think>


        """

    /// gguf-py's `size_label`: parameters with two significant digits and K/M/B/T ("2.1M", "596M").
    static func sizeLabel(_ count: Int) -> String {
        let value = Double(count)
        let (scaled, suffix): (Double, String)
        if value > 1e12 {
            (scaled, suffix) = (value * 1e-12, "T")
        } else if value > 1e9 {
            (scaled, suffix) = (value * 1e-9, "B")
        } else if value > 1e6 {
            (scaled, suffix) = (value * 1e-6, "M")
        } else {
            (scaled, suffix) = (value * 1e-3, "K")
        }
        // Python's round() (ties to even) decides how many digits the integer part has.
        let integerDigits = String(Int(scaled.rounded(.toNearestOrEven))).drop { $0 == "0" }.count
        let decimals = max(2 - integerDigits, 0)
        return String(format: "%.\(decimals)f", scaled) + suffix
    }

    /// `general.name` for a directory: its name, or the repository's for a Hub cache snapshot
    /// (`models--Org--Name/snapshots/<revision>`).
    static func modelName(_ directory: String) -> String {
        let components = (directory as NSString).standardizingPath.split(separator: "/").map(String.init)
        if components.count >= 3, components[components.count - 2] == "snapshots", components[components.count - 3].hasPrefix("models--") {
            let parts = components[components.count - 3].components(separatedBy: "--")
            if parts.count >= 3 { return parts.dropFirst(2).joined(separator: "--") }
        }
        return components.last ?? "model"
    }

    /// A reranker when llama.cpp's converter would call it one: "qwen3-reranker" in the directory or
    /// model name (`nameOrPath`, config.json's `_name_or_path`), a README titled "# Qwen3-Reranker", or a
    /// sequence-classification `architecture` (config.json's first `architectures` entry).
    static func detectKind(_ directory: String, architecture: String?, nameOrPath: String? = nil) -> GGUFModelKind {
        let readme = (try? String(contentsOfFile: (directory as NSString).appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
        if readme.lowercased().contains("# qwen3-reranker") { return .reranker }
        let architecture = architecture ?? ""
        let hints = [modelName(directory), nameOrPath ?? "", architecture].map { $0.lowercased() }
        if hints.contains(where: { $0.contains("qwen3-reranker") }) { return .reranker }
        return architecture.lowercased().contains("sequenceclassification") ? .reranker : .embedding
    }

    /// The configuration of `directory`, read by the Qwen3 module's own reader for conversion, and
    /// refused unless it is a dense Qwen3 model this converter maps (errors name config.json).
    static func configuration(_ directory: String) throws -> Qwen3Configuration {
        let path = (directory as NSString).appendingPathComponent("config.json")
        func fail(_ reason: String) -> ModelToolsError { .unreadableConfiguration(path: path, reason: reason) }
        let configuration: Qwen3Configuration
        do {
            configuration = try Qwen3Configuration.load(directory: directory, purpose: .conversion)
        } catch Qwen3Error.missingFile {
            throw fail("missing or unreadable (a model directory needs its config.json)")
        } catch Qwen3Error.invalidConfiguration(_, let reason) {
            throw fail(reason)
        } catch Qwen3Error.unsupportedConfiguration(let detail) {
            throw fail(detail)
        } catch {
            throw fail((error as? LocalizedError)?.errorDescription ?? "\(error)")
        }
        guard configuration.modelType == "qwen3" else {
            throw fail("model_type is \(configuration.modelType ?? "missing"), not qwen3 (only Qwen3 dense models are converted)")
        }
        if let architecture = configuration.architectures.first, !["Qwen3ForCausalLM", "Qwen3Model"].contains(architecture) {
            throw fail("architecture \(architecture) is not Qwen3ForCausalLM or Qwen3Model")
        }
        return configuration
    }
}
