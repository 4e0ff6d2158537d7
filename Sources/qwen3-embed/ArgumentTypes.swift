import ArgumentParser
import Kernels
import ModelTools

// Option values with a fixed set of spellings are enums, so ArgumentParser validates them, lists the
// allowed values in --help and in its error, and the commands never re-check strings by hand.

/// `--precision`: the arithmetic a command runs the model in.
///
/// A CLI type rather than `Precision` itself because `auto` is a choice the user makes, not a precision:
/// it resolves per machine (`Precision.automatic`), and help must be able to show `auto` as a default
/// (bench) and eval reports record the choice as given.
enum PrecisionOption: String, CaseIterable, ExpressibleByArgument {
    /// Exact: fp32 activations and accumulation.
    case fp32
    /// Fast: bf16 inputs, fp32 accumulation.
    case bf16
    /// bf16 where the CPU has bf16 dot products, else fp32.
    case auto

    /// Accepts what `Precision(argument:)` accepts (any case; `f32`, `float32`, `bfloat16` too), so the
    /// CLI and the library read precision names alike.
    init?(argument: String) {
        if argument.lowercased() == "auto" {
            self = .auto
            return
        }
        switch Precision(argument: argument) {
        case .float32?: self = .fp32
        case .bfloat16?: self = .bf16
        case nil: return nil
        }
    }

    /// The precision to load the model with (`auto` resolved for this CPU).
    var precision: Precision {
        switch self {
        case .fp32: .float32
        case .bf16: .bfloat16
        case .auto: .automatic
        }
    }
}

/// `quantize --type`: spelled as llama-quantize spells it, in any case (`Q8_0` works as `q8_0`).
extension GGUFFileType: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.lowercased())
    }
}

/// `quantize --kind`: what the converted model is, or `auto` to tell from its name.
enum ModelKindOption: String, CaseIterable, ExpressibleByArgument {
    /// A model named like Qwen3-Reranker is a reranker, anything else an embedding model.
    case auto
    /// An embedding model (pooling LAST).
    case embedding
    /// A reranker (a two-row `cls.output` head, pooling RANK).
    case reranker

    /// The converter's kind; `nil` lets the converter decide from the model's name.
    var ggufKind: GGUFModelKind? { GGUFModelKind(rawValue: rawValue) }
}

/// `merge --method`.
extension MergeMethod.Kind: ExpressibleByArgument {}
