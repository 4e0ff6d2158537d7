import Foundation
import ModelFormats

/// What a converter to another format (GGUF) reads from a parsed tokenizer, so that it never parses
/// `tokenizer.json` a second time: the model tools see the vocabulary, merges, added tokens and
/// post-processor exactly as this module validated them, and convert only tokenizers it can run.
extension TokenizerFile {
    /// One step of the post-processor as the file spells it. `postProcessor` keeps only the ids a
    /// step adds, which is what encoding needs; a converter also needs the template's token names.
    package enum PostProcessorStep: Sendable, Equatable {
        /// `ByteLevel`: adjusts offsets only.
        case byteLevel
        /// `TemplateProcessing`: the single-sequence and pair templates.
        case template(single: [TemplatePiece], pair: [TemplatePiece])
    }

    /// One item of a `TemplateProcessing` template: `{"SpecialToken": {"id": …}}` or
    /// `{"Sequence": {"id": "A"}}` (both nil for anything else).
    package struct TemplatePiece: Sendable, Equatable {
        /// The special token's name (`<|endoftext|>`), for a SpecialToken item.
        package var specialToken: String?
        /// The sequence's name (`A` or `B`), for a Sequence item.
        package var sequence: String?
    }

    /// The steps of a `post_processor` value: the processors of a `Sequence` (one level, as gguf-py's
    /// `SpecialVocab` reads them) or the processor itself; steps of other types are left out.
    static func postProcessorSteps(_ value: JSONValue) -> [PostProcessorStep] {
        guard value.object != nil else { return [] }
        let processors = value["processors"]?.array ?? [value]
        return processors.compactMap { processor in
            switch processor["type"]?.string {
            case "ByteLevel":
                return .byteLevel
            case "TemplateProcessing":
                return .template(single: templatePieces(processor["single"]), pair: templatePieces(processor["pair"]))
            default:
                return nil
            }
        }
    }

    private static func templatePieces(_ value: JSONValue?) -> [TemplatePiece] {
        (value?.array ?? []).map { item in
            TemplatePiece(specialToken: item["SpecialToken"]?["id"]?.string, sequence: item["Sequence"]?["id"]?.string)
        }
    }

    /// The added tokens in file order (`tokenizer.json`'s `added_tokens`, or `tokenizer_config.json`'s
    /// `added_tokens_decoder` by id for vocab.json + merges.txt), with their `special` flags.
    package var addedTokenEntries: [(content: String, id: Int, special: Bool)] {
        addedTokens.map { ($0.content, $0.id, $0.special) }
    }

    /// The tokenizer files of a model directory, read as `Tokenizer.load(directory:)` reads them:
    /// `tokenizer.json` if present, else `vocab.json` + `merges.txt` (with `tokenizer_config.json`'s
    /// added tokens). `tokenizer.json` must be a regular file: a FIFO is refused, never waited on.
    package static func read(directory: URL) throws -> TokenizerFile {
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: jsonURL.path) else {
            return try TokenizerFile(vocabularyAndMergesIn: directory)
        }
        return try TokenizerFile(tokenizerJSON: RegularFile.contents(atPath: jsonURL.path), path: jsonURL.path)
    }
}
