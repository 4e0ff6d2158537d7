"""huggingface_hub's `InferenceClient(base_url=...)`: it posts every task to the base URL itself (`POST /`),
{"inputs": text, ...parameters} for feature_extraction and {"inputs": {"source_sentence", "sentences"}}
for sentence_similarity. Usage: huggingface_hub_client.py URL KEY
"""
import math
import sys

from huggingface_hub import InferenceClient

from common import DEFAULT_INSTRUCTION, assert_close, cli_embed, report, version

base_url, api_key = sys.argv[1], sys.argv[2]
client = InferenceClient(base_url=base_url, api_key=api_key)

text = "The capital of China is Beijing."
features = client.feature_extraction(text)
assert features.shape[0] == 1, features.shape
source = "What is the capital of China?"
sentences = ["The capital of China is Beijing.", "Gravity attracts bodies.", "Paris is the capital of France."]
vectors = cli_embed([source] + sentences)  # sentences[0] is `text`
delta = assert_close("feature_extraction", features.tolist(), [vectors[1]])
query = client.feature_extraction("What is the capital of China?", prompt_name="query")
query_delta = assert_close("feature_extraction prompt_name=query", query.tolist(),
                           cli_embed(["What is the capital of China?"], instruction=DEFAULT_INSTRUCTION))

similarities = client.sentence_similarity(source, other_sentences=sentences)
cosine = lambda a, b: sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
similarity_delta = assert_close("sentence_similarity", similarities, [cosine(vectors[0], v) for v in vectors[1:]])

report(f"huggingface_hub {version('huggingface_hub')}",
       f"feature_extraction -> {features.shape[0]}x{features.shape[1]} {features.dtype} (max |Δ| to CLI {delta:.1g}), "
       f"prompt_name=query (|Δ| {query_delta:.1g}); sentence_similarity -> "
       f"[{', '.join(f'{s:.4f}' for s in similarities)}] = CLI cosines (|Δ| {similarity_delta:.1g})")
