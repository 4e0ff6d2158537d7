#!/usr/bin/env python3
"""Builds the tiny Qwen3 reference models and their golden outputs with Hugging Face transformers.

Run once (outputs are committed; CI never installs torch):

    python3 -m venv Scripts/.venv && Scripts/.venv/bin/pip install -r Scripts/requirements-fixtures.txt
    Scripts/.venv/bin/python Scripts/make_fixtures.py

What it writes under Tests/Fixtures/:
  tiny-qwen3-embedding/  embedding model: bare Qwen3Model (tensor names WITHOUT the `model.` prefix),
                         tied embeddings, bf16, sharded (index + 2 shards), transformers-4.x style
                         config (`rope_theta`, `torch_dtype`), the real Qwen3-Embedding tokenizer.json.
  tiny-qwen3-reranker/   reranker: Qwen3ForCausalLM (`model.` prefix) with an untied lm_head, fp32,
                         one file, transformers-5.x style config (`rope_parameters`, `dtype`), and the
                         tokenizer as vocab.json + merges.txt + tokenizer_config.json (the fallback path;
                         one copy of each tokenizer file in the whole fixture tree).
  golden/embedding.json  ids and embeddings computed exactly as the official Qwen3-Embedding example
                         does (left padding, last_token_pool, F.normalize), with and without instruction,
                         MRL 32, and truncation.
  golden/reranker.json   scores computed with the official Qwen3-Reranker code path.

Both models use head_dim != hidden/heads and grouped-query attention, and weights drawn with a larger
spread than the default initialiser (and non-unit norm weights) so that every part of the math moves the
result: a parity test against these outputs cannot pass with a step left out.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, Qwen3Config
from transformers import Qwen3ForCausalLM, Qwen3Model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "reference" / "tokenizer"
FIXTURES = ROOT / "Tests" / "Fixtures"
EMBEDDING_DIR = FIXTURES / "tiny-qwen3-embedding"
RERANKER_DIR = FIXTURES / "tiny-qwen3-reranker"
GOLDEN_DIR = FIXTURES / "golden"

DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"

DOCUMENTS = [
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical objects and is responsible for the movement of planets around the sun.",
    "東京は日本の首都です。",
    "서울은 대한민국의 수도입니다.",
    "def add(a, b):\n\treturn a + b\r\n",
    "Emoji 👩‍👩‍👧‍👦 and café (cafe\u0301) — ½ ①",
    "",
    "a",
    "   leading and trailing spaces   ",
    "<|im_start|>special tokens written in plain text<|im_end|>",
]
QUERIES = [
    "What is the capital of China?",
    "Explain gravity",
    "日本の首都は？",
    "",
]
CUSTOM_TASK = "Retrieve semantically similar text"
LONG_TEXT = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)

RERANK_QUERIES = ["What is the capital of China?", "Explain gravity"]
RERANK_DOCUMENTS = [
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other.",
    "東京は日本の首都です。",
    "",
]


def randomize(model: torch.nn.Module, seed: int, std: float) -> None:
    """Draws every weight from N(0, std); norm weights from 1 + N(0, 0.2)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                values = 1.0 + 0.2 * torch.randn(parameter.shape, generator=generator)
            else:
                values = std * torch.randn(parameter.shape, generator=generator)
            parameter.copy_(values)


def copy_tokenizer_json(destination: Path) -> None:
    shutil.copy(SHARED / "qwen3-embedding" / "tokenizer.json", destination / "tokenizer.json")
    shutil.copy(SHARED / "qwen3-embedding" / "tokenizer_config.json", destination / "tokenizer_config.json")


def copy_tokenizer_fallback(destination: Path) -> None:
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(SHARED / "qwen3-reranker" / name, destination / name)


def rewrite_config_as_transformers_4(directory: Path) -> None:
    """The official embedding checkpoints were written by transformers 4.51: top-level rope_theta and torch_dtype."""
    path = directory / "config.json"
    config = json.loads(path.read_text())
    rope = config.pop("rope_parameters", None) or {}
    config["rope_theta"] = rope.get("rope_theta", 1000000)
    config["rope_scaling"] = None
    config["torch_dtype"] = config.pop("dtype", "bfloat16")
    config["transformers_version"] = "4.51.3"
    config["architectures"] = ["Qwen3ForCausalLM"]  # what the official embedding configs say
    config.pop("layer_types", None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def build_embedding_model() -> None:
    config = Qwen3Config(
        vocab_size=151669,
        hidden_size=40,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,  # != 40 / 4
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True,
        bos_token_id=151643,
        eos_token_id=151643,
    )
    torch.manual_seed(0)
    model = Qwen3Model(config)
    randomize(model, seed=1, std=0.25)
    model = model.to(torch.bfloat16)
    if EMBEDDING_DIR.exists():
        shutil.rmtree(EMBEDDING_DIR)
    # Qwen3Model has no `model.` prefix: exactly the layout of the official embedding checkpoints.
    model.save_pretrained(EMBEDDING_DIR, max_shard_size="8MB")
    rewrite_config_as_transformers_4(EMBEDDING_DIR)
    copy_tokenizer_json(EMBEDDING_DIR)
    assert (EMBEDDING_DIR / "model.safetensors.index.json").exists(), "the embedding fixture must be sharded"


def build_reranker_model() -> None:
    config = Qwen3Config(
        vocab_size=151669,
        hidden_size=8,
        intermediate_size=24,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,  # != 8 / 2
        max_position_embeddings=40960,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=False,
        bos_token_id=151643,
        eos_token_id=151645,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    randomize(model, seed=2, std=0.5)
    model = model.to(torch.float32)
    if RERANKER_DIR.exists():
        shutil.rmtree(RERANKER_DIR)
    model.save_pretrained(RERANKER_DIR, max_shard_size="1GB")
    copy_tokenizer_fallback(RERANKER_DIR)
    saved = json.loads((RERANKER_DIR / "config.json").read_text())
    assert "rope_parameters" in saved and "dtype" in saved, "expected a transformers-5.x style config"


# --- Golden outputs, computed the way the official examples compute them. ---------------------------

def last_token_pool(last_hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    left_padding = attention_mask[:, -1].sum() == attention_mask.shape[0]
    if left_padding:
        return last_hidden_states[:, -1]
    sequence_lengths = attention_mask.sum(dim=1) - 1
    batch_size = last_hidden_states.shape[0]
    return last_hidden_states[torch.arange(batch_size, device=last_hidden_states.device), sequence_lengths]


def get_detailed_instruct(task_description: str, query: str) -> str:
    return f"Instruct: {task_description}\nQuery:{query}"


def official_embeddings(model, tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], torch.Tensor]:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**batch)
    embeddings = last_token_pool(outputs.last_hidden_state, batch["attention_mask"])
    ids = [
        [int(token) for token, keep in zip(row, mask) if keep]
        for row, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist())
    ]
    return ids, embeddings


def write_embedding_golden() -> None:
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDING_DIR, padding_side="left")
    model = AutoModel.from_pretrained(EMBEDDING_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    assert type(model).__name__ == "Qwen3Model"
    cases = []

    def add_case(name, texts, instruction, max_length, dimensions):
        inputs = [get_detailed_instruct(instruction, t) for t in texts] if instruction is not None else list(texts)
        ids, pooled = official_embeddings(model, tokenizer, inputs, max_length)
        if dimensions is not None:
            pooled = pooled[:, :dimensions]
        normalized = F.normalize(pooled, p=2, dim=1)
        cases.append({
            "name": name,
            "texts": texts,
            "instruction": instruction,
            "max_length": max_length,
            "dimensions": dimensions,
            "ids": ids,
            "embeddings": normalized.tolist(),
            "unnormalized": pooled.tolist(),
        })

    add_case("documents", DOCUMENTS, None, 8192, None)
    add_case("queries", QUERIES, DEFAULT_TASK, 8192, None)
    add_case("queries-custom-instruction", QUERIES[:2], CUSTOM_TASK, 8192, None)
    add_case("documents-mrl-32", DOCUMENTS, None, 8192, 32)
    add_case("queries-mrl-32", QUERIES, DEFAULT_TASK, 8192, 32)
    add_case("truncated-16", [LONG_TEXT, "short"], None, 16, None)
    add_case("long", [LONG_TEXT], None, 8192, None)

    (GOLDEN_DIR / "embedding.json").write_text(json.dumps({
        "model": EMBEDDING_DIR.name,
        "reference": "transformers AutoModel fp32, left padding, last_token_pool, F.normalize",
        "cases": cases,
    }, ensure_ascii=False) + "\n")


PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
          "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def write_reranker_golden() -> None:
    tokenizer = AutoTokenizer.from_pretrained(RERANKER_DIR, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(RERANKER_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")
    assert (token_true_id, token_false_id) == (9693, 2152)
    prefix_tokens = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(SUFFIX, add_special_tokens=False)

    def format_instruction(instruction, query, doc):
        if instruction is None:
            instruction = DEFAULT_TASK
        return "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}".format(
            instruction=instruction, query=query, doc=doc)

    def scores_for(pairs, max_length):
        inputs = tokenizer(pairs, padding=False, truncation="longest_first", return_attention_mask=False,
                           max_length=max_length - len(prefix_tokens) - len(suffix_tokens))
        for i, element in enumerate(inputs["input_ids"]):
            inputs["input_ids"][i] = prefix_tokens + element + suffix_tokens
        ids = [list(map(int, row)) for row in inputs["input_ids"]]
        padded = tokenizer.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)
        with torch.no_grad():
            batch_scores = model(**padded).logits[:, -1, :]
        true_vector = batch_scores[:, token_true_id]
        false_vector = batch_scores[:, token_false_id]
        stacked = torch.stack([false_vector, true_vector], dim=1)
        stacked = torch.nn.functional.log_softmax(stacked, dim=1)
        return ids, stacked[:, 1].exp().tolist(), (true_vector - false_vector).tolist()

    cases = []

    def add_case(name, query, documents, instruction, max_length):
        pairs = [format_instruction(instruction, query, doc) for doc in documents]
        ids, scores, logit_differences = scores_for(pairs, max_length)
        cases.append({
            "name": name,
            "query": query,
            "documents": documents,
            "instruction": instruction,
            "max_length": max_length,
            "ids": ids,
            "scores": scores,
            "logit_differences": logit_differences,
        })

    add_case("default-instruction", RERANK_QUERIES[0], RERANK_DOCUMENTS, None, 8192)
    add_case("custom-instruction", RERANK_QUERIES[1], RERANK_DOCUMENTS, CUSTOM_TASK, 8192)
    # Body-only truncation: the prefix and suffix survive, the document tail is cut.
    add_case("truncated-96", RERANK_QUERIES[1], [LONG_TEXT, "short document"], None, 96)

    (GOLDEN_DIR / "reranker.json").write_text(json.dumps({
        "model": RERANKER_DIR.name,
        "reference": "official Qwen3-Reranker code path (transformers AutoModelForCausalLM fp32)",
        "yes_id": token_true_id,
        "no_id": token_false_id,
        "prefix_ids": prefix_tokens,
        "suffix_ids": suffix_tokens,
        "cases": cases,
    }, ensure_ascii=False) + "\n")


def main() -> int:
    if not SHARED.exists():
        print(f"missing {SHARED}: the real Qwen3 tokenizer files are required", file=sys.stderr)
        return 1
    torch.set_num_threads(2)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    build_embedding_model()
    build_reranker_model()
    write_embedding_golden()
    write_reranker_golden()
    total = sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file())
    print(f"fixtures written: {total / 1e6:.1f} MB under {FIXTURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
