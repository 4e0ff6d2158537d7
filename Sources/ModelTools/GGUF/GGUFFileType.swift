import ModelFormats

/// The output types of `qwen3-embed quantize`, with the `general.file_type` numbers and per-tensor
/// type rules of llama.cpp.
///
/// The float types follow `convert_hf_to_gguf.py --outtype`; the quantized ones follow what
/// `llama-quantize` does to such a file (`llama_tensor_get_type` in `src/llama-quant.cpp`), so a file
/// written here has the tensor types a user gets from llama.cpp's own two-step pipeline.
public enum GGUFFileType: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Every tensor F32.
    case f32
    /// 2-D weights F16, 1-D tensors and norms F32 (llama.cpp's converter default).
    case f16
    /// 2-D weights BF16, 1-D tensors and norms F32.
    case bf16
    /// 2-D weights Q8_0.
    case q8_0
    /// 2-D weights Q4_0, the output head (and a tied embedding) Q6_K.
    case q4_0
    /// llama.cpp's Q4_K_M mix: Q4_K, with Q6_K for the output head (and a tied embedding) and for
    /// about half of the `attn_v` and `ffn_down` weights (`use_more_bits`).
    case q4_K_M = "q4_k_m"
    /// 2-D weights Q6_K.
    case q6_K = "q6_k"

    /// `general.file_type`: llama.cpp's `llama_ftype` number.
    public var llamaFileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .bf16: return 32
        case .q8_0: return 7
        case .q4_0: return 2
        case .q4_K_M: return 15
        case .q6_K: return 18
        }
    }

    /// The type of 2-D weights before llama.cpp's per-tensor rules (`llama_ftype_get_default_type`).
    public var defaultType: GGMLType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_K_M: return .q4_K
        case .q6_K: return .q6_K
        }
    }

    /// The name llama.cpp prints (`Q4_K_M`, `BF16`…), also used in file names.
    public var name: String { rawValue.uppercased() }

    /// The `--type` spelling.
    public var description: String { rawValue }

    /// Whether the type quantizes into blocks (and so follows `llama-quantize`'s rules).
    public var isQuantized: Bool { defaultType.blockSize > 1 }
}

/// The type llama.cpp gives each tensor of a Qwen3 GGUF file, and the fallbacks it applies when a row
/// is not a whole number of blocks.
///
/// Mirrors `convert_hf_to_gguf.py` for the float types and `src/llama-quant.cpp` for the quantized
/// ones (default parameters: no importance matrix, no overrides, output tensor quantized):
///
/// - 1-D tensors and `*_norm.weight` stay F32.
/// - `output.weight`, and `token_embd.weight` when the file has no `output.weight` (llama.cpp then
///   reads the head from the embedding), become Q6_K, or Q8_0 if their rows are not a multiple of the
///   default type's block; a Q8_0 file keeps Q8_0.
/// - Q4_K_M: `attn_v.weight` and `ffn_down.weight` become Q6_K where `use_more_bits(i, n)` holds:
///   `i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2`. `i` counts these tensors in llama.cpp's processing
///   order, its loader's tensor map order (`weight_name_comparer`: block number, then name), which for
///   one such tensor per block is the block number.
/// - Rows that are not a whole number of blocks fall back: Q4_K → Q5_0, Q6_K → Q8_0, Q5_K → Q5_1,
///   Q2_K/Q3_K → Q4_0, and to F16 if the fallback does not fit either (`tensor_type_fallback`).
///   The float converter has no block constraint except its own Q8_0, which falls back to F16.
public enum LlamaTensorTypes {
    /// A tensor to type: its GGUF name and ggml dimensions (`dimensions[0]` is the row length).
    public struct Input: Sendable, Equatable {
        /// GGUF tensor name.
        public var name: String
        /// ggml dimensions.
        public var dimensions: [Int]
        /// Creates an input.
        public init(name: String, dimensions: [Int]) {
            self.name = name
            self.dimensions = dimensions
        }
    }

    /// The type chosen for one tensor.
    public struct Choice: Sendable, Equatable {
        /// What llama.cpp's rules ask for before the shape check.
        public var requested: GGMLType
        /// What is stored (differs from `requested` after a fallback).
        public var stored: GGMLType
        /// Whether a fallback replaced the requested type.
        public var isFallback: Bool { requested != stored }
    }

    /// The types of `tensors` (in any order; results are in the same order) for `fileType` in a model
    /// of `layerCount` blocks.
    public static func choose(_ tensors: [Input], fileType: GGUFFileType, layerCount: Int) -> [Choice] {
        let hasOutput = tensors.contains { $0.name == "output.weight" }
        let attentionValueCount = tensors.filter { category(of: $0.name) == .attentionValue }.count
        var choices = [Choice?](repeating: nil, count: tensors.count)
        var attentionValueIndex = 0, feedForwardDownIndex = 0
        // llama.cpp walks its loader's tensor map (block number, then name as bytes; tensors outside
        // blocks first) and the counters follow that order.
        let order = tensors.indices.sorted { a, b in
            let (blockA, blockB) = (blockNumber(tensors[a].name), blockNumber(tensors[b].name))
            if blockA != blockB { return blockA < blockB }
            return Array(tensors[a].name.utf8).lexicographicallyPrecedes(tensors[b].name.utf8)
        }
        for index in order {
            let tensor = tensors[index]
            let rowLength = tensor.dimensions.first ?? 0
            guard quantizable(tensor, fileType: fileType) else {
                choices[index] = Choice(requested: .f32, stored: .f32)
                continue
            }
            guard fileType.isQuantized else {
                choices[index] = Choice(requested: fileType.defaultType, stored: fileType.defaultType)
                continue
            }
            var type = fileType.defaultType
            let kind = category(of: tensor.name)
            if kind == .output || (kind == .tokenEmbedding && !hasOutput) {
                if rowLength % type.blockSize != 0 {
                    type = .q8_0
                } else if type != .q8_0 {
                    type = .q6_K
                }
            } else if kind == .attentionValue {
                if fileType == .q4_K_M && useMoreBits(attentionValueIndex, attentionValueCount) { type = .q6_K }
                attentionValueIndex += 1
            } else if kind == .feedForwardDown {
                if fileType == .q4_K_M && useMoreBits(feedForwardDownIndex, layerCount) { type = .q6_K }
                feedForwardDownIndex += 1
            }
            choices[index] = Choice(requested: type, stored: fallback(type, rowLength: rowLength))
        }
        return choices.map { $0! }
    }

    /// The N of a `blk.N.` name, -1 for other tensors (`sscanf(name, "blk.%d.")` in llama.cpp).
    static func blockNumber(_ name: String) -> Int {
        guard name.hasPrefix("blk.") else { return -1 }
        let digits = name.dropFirst(4).prefix { $0.isASCII && $0.isNumber }
        return digits.isEmpty ? -1 : Int(digits) ?? -1
    }

    /// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third in between.
    public static func useMoreBits(_ index: Int, _ count: Int) -> Bool {
        index < count / 8 || index >= 7 * count / 8 || (index - count / 8) % 3 == 2
    }

    /// The stored type for `type` on rows of `rowLength` values (`tensor_type_fallback`).
    public static func fallback(_ type: GGMLType, rowLength: Int) -> GGMLType {
        guard rowLength % type.blockSize != 0 else { return type }
        let replacement: GGMLType
        switch type {
        case .q2_K, .q3_K: replacement = .q4_0
        case .q4_K: replacement = .q5_0
        case .q5_K: replacement = .q5_1
        case .q6_K: replacement = .q8_0
        default: replacement = type  // already a 32-value block: nothing smaller to try
        }
        return rowLength % replacement.blockSize == 0 ? replacement : .f16
    }

    /// Whether the tensor may leave F32: weights of two or more dimensions that are not norms. The
    /// converter counts the dimensions it was given; `llama-quantize` (`tensor_allows_quantization`)
    /// counts `ggml_n_dims`, which ignores trailing dimensions of 1, so a one-row matrix stays F32.
    static func quantizable(_ tensor: Input, fileType: GGUFFileType) -> Bool {
        var dimensionCount = tensor.dimensions.count
        if fileType.isQuantized {
            dimensionCount = (tensor.dimensions.lastIndex { $0 > 1 } ?? 0) + 1
        }
        return dimensionCount >= 2 && tensor.name.hasSuffix("weight") && !tensor.name.contains("_norm.weight")
    }

    enum Category { case output, tokenEmbedding, attentionValue, feedForwardDown, other }

    /// `tensor_get_category`, reduced to the categories whose rules apply to these file types.
    static func category(of name: String) -> Category {
        if name == "output.weight" { return .output }
        if name == "token_embd.weight" { return .tokenEmbedding }
        if name.contains("attn_v.weight") || name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight") { return .attentionValue }
        if name.contains("ffn_down") { return .feedForwardDown }
        return .other
    }
}
