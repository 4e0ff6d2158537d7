#!/usr/bin/env python3
"""Brute-force numpy reference for `qwen3-embed mine` and `qwen3-embed filter`.

Embeds the fixture corpus, queries and positives with our own `qwen3-embed embed` (so the reference
checks the mining and filtering logic, not the model), then, with numpy in float64:
  - ranks the whole corpus for each query by a full sort (similarity descending, ties by corpus index),
  - takes K negatives from 1-based ranks A..B, skipping texts equal to the positive or to a negative
    already taken and candidates whose similarity exceeds the positive's plus the margin,
  - keeps the pairs whose query-positive cosine is strictly above the threshold.
Writes Tests/Fixtures/mining/expected.json, which Tests/DataPipelineTests/MiningReferenceTests.swift
compares with the Swift miner and filter run on the same model. Also prints the smallest gap between a
decision and its boundary (a similarity near the margin ceiling or the threshold, or two candidates with
nearly equal similarity), so a float32-vs-float64 difference could not flip a decision.

Run once after changing the fixture or the parameters (outputs committed):
    swift build && python3 Scripts/check_mining.py
Needs only numpy.
"""
import argparse
import json
import pathlib
import subprocess

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "Tests/Fixtures/mining"
MODEL = ROOT / "Tests/Fixtures/tiny-qwen3-embedding"
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"

# The parameters the Swift test uses (it reads them from expected.json).
NEGATIVES = 3
RANKS = (1, 12)
MARGIN = 0.1
THRESHOLD = 0.09
DEFAULT_FLAG_INSTRUCTION = None  # no --instruction: examples without one get DEFAULT_INSTRUCTION


def read_jsonl(path):
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip(" \t\r"):
            rows.append(json.loads(line))
    return rows


def corpus_text(row):
    title = row.get("title")
    if isinstance(title, str) and title:
        return (title + " " + row["text"]).strip(" \t")
    return row["text"]


def pair(row):
    if "positive" in row:
        return row["query"], row["positive"], row.get("instruction")
    if "pos" in row:
        return row["query"], row["pos"][0], row.get("prompt")
    return row["query"], row["response"], None


def embed(binary, texts, instruction=None):
    arguments = [str(binary), "embed", "--model", str(MODEL), "--input", "-"]
    if instruction is not None:
        arguments += ["--instruction", instruction]
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    result = subprocess.run(arguments, input=stdin, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    rows.sort(key=lambda r: r["index"])
    return np.array([r["embedding"] for r in rows], dtype=np.float64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / ".build/debug/qwen3-embed"))
    args = parser.parse_args()

    corpus = [corpus_text(r) for r in read_jsonl(FIXTURE / "corpus.jsonl")]
    pairs = [pair(r) for r in read_jsonl(FIXTURE / "pairs.jsonl")]
    documents = embed(args.binary, corpus)
    positives = embed(args.binary, [p for _, p, _ in pairs])
    queries = np.zeros((len(pairs), documents.shape[1]))
    for index, (query, _, instruction) in enumerate(pairs):
        queries[index] = embed(args.binary, [query], instruction or DEFAULT_FLAG_INSTRUCTION or DEFAULT_INSTRUCTION)[0]

    scores = queries @ documents.T
    positive_scores = np.einsum("ij,ij->i", queries, positives)
    closest = np.inf  # smallest distance of any decision to its boundary
    mined = []
    for q, (query, positive, instruction) in enumerate(pairs):
        order = sorted(range(len(corpus)), key=lambda i: (-scores[q, i], i))
        ranked = scores[q, order]
        closest = min(closest, float(np.min(np.abs(np.diff(ranked[: RANKS[1] + 1])))))
        ceiling = positive_scores[q] + MARGIN
        chosen = []
        for rank in range(RANKS[0], min(RANKS[1], len(corpus)) + 1):
            index = order[rank - 1]
            closest = min(closest, abs(scores[q, index] - ceiling))
            if scores[q, index] > ceiling:
                continue
            text = corpus[index]
            if text == positive or any(text == corpus[c] for c in chosen):
                continue
            chosen.append(index)
            if len(chosen) == NEGATIVES:
                break
        mined.append({"query": query, "negative_indices": chosen, "negatives": [corpus[i] for i in chosen],
                      "positive_score": float(positive_scores[q]),
                      "ranking": [int(i) for i in order[: RANKS[1]]]})
    closest_threshold = float(np.min(np.abs(positive_scores - THRESHOLD)))
    expected = {
        "comment": "Written by Scripts/check_mining.py (numpy float64 brute force over our embed command's vectors).",
        "mine": {"negatives": NEGATIVES, "range": list(RANKS), "margin": MARGIN, "examples": mined},
        "filter": {"threshold": THRESHOLD, "similarities": [float(s) for s in positive_scores],
                   "kept": [bool(s > THRESHOLD) for s in positive_scores]},
        "closest_decision_gap": min(float(closest), closest_threshold),
    }
    (FIXTURE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("positive similarities:", np.round(positive_scores, 4).tolist())
    print("negatives per example:", [len(m["negatives"]) for m in mined], "kept:", expected["filter"]["kept"])
    print(f"closest decision gap: {expected['closest_decision_gap']:.3g}")


if __name__ == "__main__":
    main()
