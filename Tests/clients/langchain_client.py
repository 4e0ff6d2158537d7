"""langchain-openai's `OpenAIEmbeddings` against /v1/embeddings, as a LangChain user points it at this server.

With its default settings LangChain tokenizes with tiktoken and sends OpenAI token ids, which mean nothing
to a Qwen3 model: the server must refuse them with a message that reaches the user and names the fix.
With `check_embedding_ctx_length=False` it sends text: 1,000 texts go in one request (its chunk_size).
Usage: langchain_client.py URL KEY
"""
import sys

import httpx
import openai

from common import assert_close, cli_embed, offline_tiktoken, report, texts, version

offline_tiktoken()
from langchain_openai import OpenAIEmbeddings  # noqa: E402  (after tiktoken is pointed at its local file)

base_url, api_key = sys.argv[1], sys.argv[2]
requests_sent = []
http_client = httpx.Client(event_hooks={"request": [lambda request: requests_sent.append(request.url.path)]})

default = OpenAIEmbeddings(base_url=base_url + "/v1", api_key=api_key, model="tiny", max_retries=0)
try:
    default.embed_documents(["The capital of China is Beijing.", "Gravity attracts bodies."])
    raise SystemExit("LangChain's default settings (OpenAI token ids) should have been refused")
except openai.UnprocessableEntityError as error:
    refusal = error.body.get("message", "") if isinstance(error.body, dict) else str(error.body)
    # What the user sees is str(error): the message must be in it, naming the setting to change.
    assert "check_embedding_ctx_length=False" in str(error), str(error)

embeddings = OpenAIEmbeddings(base_url=base_url + "/v1", api_key=api_key, model="tiny", max_retries=0,
                              check_embedding_ctx_length=False, http_client=http_client)
documents = texts(1000)
vectors = embeddings.embed_documents(documents)
assert requests_sent == ["/v1/embeddings"], f"1,000 texts took {len(requests_sent)} requests: {requests_sent}"
*expected, expected_query = cli_embed(documents + ["What is the capital of China?"])
delta = assert_close("embed_documents", vectors, expected)
query = embeddings.embed_query("What is the capital of China?")
query_delta = assert_close("embed_query", [query], [expected_query])

report(f"langchain-openai {version('langchain-openai')}",
       f"default settings -> openai.UnprocessableEntityError 422 \"{refusal[:90]}...\"; "
       f"check_embedding_ctx_length=False -> embed_documents(1000 texts) in 1 request, {len(vectors)}x{len(vectors[0])} "
       f"(max |Δ| to CLI {delta:.1g}), embed_query 1x{len(query)} (|Δ| {query_delta:.1g})")
