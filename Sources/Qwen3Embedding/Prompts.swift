/// The exact prompt formats of the official Qwen3-Embedding and Qwen3-Reranker examples.
public enum Prompts {
    /// The instruction the official examples use for web search, and the reranker's default.
    public static let defaultInstruction = "Given a web search query, retrieve relevant passages that answer the query"

    /// An embedding query: `Instruct: {instruction}\nQuery:{text}` (no space after `Query:`).
    public static func embeddingQuery(_ text: String, instruction: String) -> String {
        "Instruct: \(instruction)\nQuery:\(text)"
    }

    /// The reranker's system turn and the opening of the user turn.
    public static let rerankerPrefix = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"

    /// The reranker's closing of the user turn and an empty thinking block before the answer.
    public static let rerankerSuffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

    /// The reranker's user message: `<Instruct>: …\n<Query>: …\n<Document>: …`.
    public static func rerankerBody(query: String, document: String, instruction: String) -> String {
        "<Instruct>: \(instruction)\n<Query>: \(query)\n<Document>: \(document)"
    }
}
