/// The training data pipeline of the paper's recipe (arXiv 2506.05176, section 3): queries synthesized
/// by an LLM from documents (`Synthesis/`), hard negatives mined with an embedding model (`Mining/`),
/// and the cosine filter that keeps the supervised fine-tuning subset (`Mining/`). Every stage reads and
/// writes the training data format of the `Training` module, so its output feeds `qwen3-embed train`.
public enum DataPipeline {
    /// The format every stage writes: one training example per JSON line (`query`, `positive`,
    /// `negatives`, optional `instruction`), plus stage-specific provenance fields.
    public static let outputFormat = "jsonl"
}
