"""The `cohere` SDK: `ClientV2` embed (float and the quantized types) and rerank on /v2/*, and the v1 `Client`
rerank on /v1/rerank. Usage: cohere_client.py URL KEY
"""
import math
import sys

import cohere
import numpy as np

from common import DEFAULT_INSTRUCTION, assert_close, cli_embed, cli_rerank, report, version

base_url, api_key = sys.argv[1], sys.argv[2]
v2 = cohere.ClientV2(base_url=base_url, api_key=api_key)

documents = ["The capital of China is Beijing.", "Gravity attracts bodies.", "Paris is the capital of France.",
             "Pandas live in Sichuan."]
query = "What is the capital of China?"


def packed_bits(vector):
    """Cohere's ubinary: one bit per dimension (1 where the value is positive), eight per byte, first
    dimension in the most significant bit."""
    return [sum(1 << (7 - j) for j, x in enumerate(vector[i:i + 8]) if x > 0) for i in range(0, len(vector), 8)]


def int8(vector):
    """The server's signed 8-bit scalar quantization of a unit vector: round(x * 127) (the product in float32,
    ties away from zero), clamped to [-128, 127]."""
    scaled = np.asarray(vector, dtype=np.float32) * np.float32(127)
    # A float32 is exact in a double, and so is |x| + 0.5 for |x| < 2**28: the rounding below is exact.
    return [max(-128, min(127, int(math.copysign(math.floor(abs(float(x)) + 0.5), float(x))))) for x in scaled]


expected = cli_embed(documents)
kinds = ["float", "int8", "uint8", "binary", "ubinary"]
reply = v2.embed(model="tiny", texts=documents, input_type="search_document", embedding_types=kinds)
vectors = reply.embeddings.float_
delta = assert_close("v2 embed float", vectors, expected)
assert reply.embeddings.int8 == [int8(v) for v in expected], "int8 differs from its definition"
assert reply.embeddings.uint8 == [[x + 128 for x in int8(v)] for v in expected], "uint8 differs from its definition"
assert reply.embeddings.ubinary == [packed_bits(v) for v in expected], "ubinary differs from its definition"
assert reply.embeddings.binary == [[b - 128 for b in packed_bits(v)] for v in expected], "binary differs from its definition"

queries = v2.embed(model="tiny", texts=[query], input_type="search_query", embedding_types=["float"], output_dimension=32)
query_delta = assert_close("v2 embed search_query output_dimension=32", queries.embeddings.float_,
                           cli_embed([query], instruction=DEFAULT_INSTRUCTION, dimensions=32))

scores = cli_rerank(query, documents)
ranking = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
reranked = v2.rerank(model="tiny-reranker", query=query, documents=documents, top_n=3)
assert [r.index for r in reranked.results] == ranking[:3], reranked.results
rerank_delta = assert_close("v2 rerank", [r.relevance_score for r in reranked.results], [scores[i] for i in ranking[:3]])

v1 = cohere.Client(base_url=base_url, api_key=api_key)
old = v1.rerank(model="tiny-reranker", query=query, documents=documents, return_documents=True)
assert [r.index for r in old.results] == ranking, old.results
assert [r.document.text for r in old.results] == [documents[i] for i in ranking]
v1_delta = assert_close("v1 rerank", [r.relevance_score for r in old.results], [scores[i] for i in ranking])

report(f"cohere {version('cohere')}",
       f"ClientV2.embed -> float {len(vectors)}x{len(vectors[0])} (max |Δ| to CLI {delta:.1g}), int8/uint8/binary/ubinary "
       f"= their definitions on the CLI's vectors (binary {len(reply.embeddings.binary[0])} bytes each), search_query "
       f"output_dimension=32 (|Δ| {query_delta:.1g}); ClientV2.rerank top_n=3 -> indices {[r.index for r in reranked.results]} "
       f"scores [{', '.join(f'{r.relevance_score:.4f}' for r in reranked.results)}] (|Δ| {rerank_delta:.1g}); "
       f"Client.rerank (v1) -> {len(old.results)} ranked with documents (|Δ| {v1_delta:.1g})")
