"""The official `openai` client against /v1/embeddings: float, base64, dimensions, prompt_name, token ids.

Usage: openai_client.py URL KEY IDS_URL — URL is a server with default settings (token ids refused),
IDS_URL one started with --accept-token-ids (no API key).
"""
import json
import math
import struct
import subprocess
import sys

import openai
from openai import OpenAI

from common import BINARY, DEFAULT_INSTRUCTION, EMBED_MODEL, assert_close, cli_embed, report, version

base_url, api_key, ids_url = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)

texts = ["The capital of China is Beijing.", "Gravity attracts bodies.", "Swift is a programming language."]
# One CLI run per set of options (each run loads the model again): the documents, and "Hello world" for the ids.
*expected, hello = cli_embed(texts + ["Hello world"])

floats = client.embeddings.create(model="tiny", input=texts, encoding_format="float")
assert [d.index for d in floats.data] == [0, 1, 2], floats
hidden = len(floats.data[0].embedding)
for d in floats.data:
    assert abs(math.sqrt(sum(x * x for x in d.embedding)) - 1) < 1e-4
assert floats.usage.prompt_tokens > 0 and floats.usage.total_tokens == floats.usage.prompt_tokens
float_delta = assert_close("float", [d.embedding for d in floats.data], expected)

# The client asks for base64 when encoding_format is omitted and decodes it itself. JSON floats are the
# shortest decimal that round-trips a float32: rounded to float32 they must be exactly the base64 values.
default = client.embeddings.create(model="tiny", input=texts)
as_f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
for a, b in zip(default.data, floats.data):
    assert list(a.embedding) == [as_f32(x) for x in b.embedding], "base64 and float embeddings differ"
base64_delta = assert_close("base64", [d.embedding for d in default.data], expected)

short = client.embeddings.create(model="tiny", input=texts, dimensions=32, encoding_format="float")
assert all(len(d.embedding) == 32 for d in short.data)
short_delta = assert_close("dimensions=32", [d.embedding for d in short.data], cli_embed(texts, dimensions=32))

queries = client.embeddings.create(model="tiny", input=texts[:1], encoding_format="float", extra_body={"prompt_name": "query"})
assert_close("prompt_name=query", [queries.data[0].embedding], cli_embed(texts[:1], instruction=DEFAULT_INSTRUCTION))

try:
    client.embeddings.create(model="tiny", input="hello", dimensions=7)
    raise SystemExit("dimensions=7 should have been refused")
except openai.UnprocessableEntityError as error:
    assert error.status_code == 422, error

# Token ids: the ids of "Hello world" as this model's tokenizer makes them (with the appended EOS).
tokenized = subprocess.run([BINARY, "tokenize", "--model", EMBED_MODEL, "Hello world"],
                           capture_output=True, text=True, check=True)
ids = json.loads(tokenized.stdout.splitlines()[0])["ids"]
try:
    client.embeddings.create(model="tiny", input=[ids], encoding_format="float")
    raise SystemExit("token ids should be refused without --accept-token-ids")
except openai.UnprocessableEntityError as error:
    refusal = error.body.get("message", "") if isinstance(error.body, dict) else str(error.body)
    assert "check_embedding_ctx_length=False" in refusal, refusal

ids_client = OpenAI(base_url=ids_url + "/v1", api_key="unused", max_retries=0)
accepted = ids_client.embeddings.create(model="tiny", input=[ids], encoding_format="float")
ids_delta = assert_close("token ids", [accepted.data[0].embedding], [hello])

report(f"openai {version('openai')}",
       f"float {len(floats.data)}x{hidden} (max |Δ| to CLI {float_delta:.1g}), base64 decoded = float "
       f"(|Δ| {base64_delta:.1g}), dimensions=32 -> 32 (|Δ| {short_delta:.1g}), prompt_name=query ok, dimensions=7 -> 422; "
       f"token ids -> 422 \"{refusal[:90]}...\"; with --accept-token-ids -> 1x{len(accepted.data[0].embedding)} "
       f"= CLI(\"Hello world\") (|Δ| {ids_delta:.1g})")
