"""A plain `requests` client against /v1/rerank and the TEI routes."""
import sys

import requests

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

print("requests client: ok")
