"""A plain `requests` client against /v1/rerank, /v1/models and the TEI routes (TEI/Jina-style requests)."""
import json
import subprocess
import sys

import requests

from common import BINARY, EMBED_MODEL, assert_close, cli_embed, cli_rerank, report, version

base, key = sys.argv[1], sys.argv[2]
session = requests.Session()
session.headers["Authorization"] = f"Bearer {key}"


def post(path, body, status=200):
    reply = session.post(base + path, json=body, timeout=60)
    assert reply.status_code == status, (path, reply.status_code, reply.text)
    return reply.json()


docs = ["Beijing is the capital of China.", "Gravity attracts bodies.", "Paris is in France."]
rerank = post("/v1/rerank", {"query": "capital of China?", "documents": docs, "top_n": 2, "return_documents": True})
scores = [r["relevance_score"] for r in rerank["results"]]
assert len(scores) == 2 and scores == sorted(scores, reverse=True), rerank
assert all(0 < s < 1 for s in scores)
assert rerank["results"][0]["document"]["text"] in docs

tei = post("/rerank", {"query": "capital of China?", "texts": docs, "return_text": True})
assert sorted(r["index"] for r in tei) == [0, 1, 2]
assert [r["score"] for r in tei] == sorted((r["score"] for r in tei), reverse=True)

embed = post("/embed", {"inputs": ["a", "b"], "normalize": True})
assert len(embed) == 2 and len(embed[0]) == 40
short = post("/embed", {"inputs": "a", "dimensions": 32})
assert len(short[0]) == 32

tokens = post("/tokenize", {"inputs": "hello world"})
assert tokens[0][-1]["special"] is True

assert session.get(base + "/health", timeout=10).status_code == 200
info = session.get(base + "/info", timeout=10).json()
assert info["dimensions"] == 40, info
metrics = session.get(base + "/metrics", timeout=10).text
assert "http_requests_total" in metrics

error = post("/embed", {"inputs": []}, status=422)
assert set(error) == {"error", "error_type"}, error
assert requests.post(base + "/embed", json={"inputs": "a"}, timeout=10).status_code == 401
openai_error = post("/v1/embeddings", {"input": 3}, status=400)
assert set(openai_error["error"]) == {"message", "type", "param", "code"}, openai_error

# TEI's /embed takes the model's own token ids (unlike /v1/embeddings, where ids are OpenAI's).
tokenized = subprocess.run([BINARY, "tokenize", "--model", EMBED_MODEL, "Hello world"], capture_output=True, text=True, check=True)
ids = json.loads(tokenized.stdout.splitlines()[0])["ids"]
by_ids = post("/embed", {"inputs": [ids]})
*expected, hello = cli_embed(["a", "b", "Hello world"])
ids_delta = assert_close("/embed token ids", by_ids, [hello])
embed_delta = assert_close("/embed", embed, expected)
rerank_scores = cli_rerank("capital of China?", docs)
tei_delta = assert_close("/rerank", [r["score"] for r in sorted(tei, key=lambda r: r["index"])], rerank_scores)

models = session.get(base + "/v1/models", timeout=10).json()
kinds = sorted((m["id"], m["kind"]) for m in models["data"])
assert [kind for _, kind in kinds] == ["embedding", "reranker"], models
missing = session.get(base + "/no/such/route", timeout=10)
assert missing.status_code == 404 and missing.json().get("error"), (missing.status_code, missing.text)

report(f"requests {version('requests')}",
       f"/v1/rerank top_n=2 -> {len(scores)} best first; TEI /rerank (|Δ| to CLI {tei_delta:.1g}), /embed 2x{len(embed[0])} "
       f"(|Δ| {embed_delta:.1g}), /embed with the model's token ids = CLI(\"Hello world\") (|Δ| {ids_delta:.1g}), /tokenize, "
       f"/health, /info, /metrics; /v1/models {kinds}; 401 without a key; 404 -> {missing.json()}")
