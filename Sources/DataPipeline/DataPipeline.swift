/// The training data pipeline of the paper's recipe (arXiv 2506.05176, section 3): queries synthesized
/// by an LLM from documents (`SynthesisRunner`, `qwen3-embed synthesize`), hard negatives mined with an
/// embedding model and the cosine filter that keeps the supervised fine-tuning subset (`Mining/`). Every
/// stage writes the training data format of the `Training` module (`TrainingDataset` reads it), plus
/// stage-specific provenance fields that the trainer ignores.
public enum DataPipeline {}
