"""llama-index's `OpenAIEmbedding` against /v1/embeddings: 100 texts in one call (its embed_batch_size).

It accepts only OpenAI's model names in `model`; `model_name` sets the name sent to a custom server and
`api_base` points it there. Usage: llama_index_client.py URL KEY
"""
import sys

import httpx
from llama_index.embeddings.openai import OpenAIEmbedding

from common import assert_close, cli_embed, report, texts, version

base_url, api_key = sys.argv[1], sys.argv[2]
requests_sent = []
http_client = httpx.Client(event_hooks={"request": [lambda request: requests_sent.append(request.url.path)]})

model = OpenAIEmbedding(model_name="tiny-qwen3-embedding", api_base=base_url + "/v1", api_key=api_key,
                        embed_batch_size=100, max_retries=1, http_client=http_client)
documents = texts(100, prefix="Note")
vectors = model.get_text_embedding_batch(documents)
assert requests_sent == ["/v1/embeddings"], f"100 texts took {len(requests_sent)} requests: {requests_sent}"
*expected, expected_query = cli_embed(documents + ["Which city is the capital of China?"])
delta = assert_close("get_text_embedding_batch", vectors, expected)
query = model.get_query_embedding("Which city is the capital of China?")
query_delta = assert_close("get_query_embedding", [query], [expected_query])

report(f"llama-index-embeddings-openai {version('llama-index-embeddings-openai')}",
       f"get_text_embedding_batch(100 texts) in 1 request, {len(vectors)}x{len(vectors[0])} (max |Δ| to CLI {delta:.1g}), "
       f"get_query_embedding 1x{len(query)} (|Δ| {query_delta:.1g})")
