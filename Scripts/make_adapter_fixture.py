#!/usr/bin/env python3
"""Builds PEFT LoRA adapters for the tiny Qwen3 fixtures and the outputs transformers + peft compute with them.

Run once (outputs are committed; CI never installs torch), with torch, transformers 5 and peft 0.21:

    /work/venv-torch/bin/python Scripts/make_adapter_fixture.py

What it writes under Tests/Fixtures/training/peft-adapter/:
  embedding/   adapter for tiny-qwen3-embedding (a bare Qwen3Model: keys `base_model.model.layers.…`), made by
               `peft.get_peft_model` with r=4, lora_alpha=8 on all seven projections (target_modules a list).
  reranker/    adapter for tiny-qwen3-reranker (Qwen3ForCausalLM: keys `base_model.model.model.layers.…`), r=2,
               lora_alpha=3, use_rslora (scale alpha/sqrt(r)), target_modules a regex string that selects
               q_proj, v_proj and down_proj of layer 1 only, so that a reader that ignores the regex or the
               rsLoRA scale gives different scores.
  golden.json  embeddings (fp32 model, last-token pooling, L2-normalised, the official example's recipe) for
               a few queries (with the default instruction) and documents, and reranker scores (official
               Qwen3-Reranker code path), each computed with the adapter applied by peft (unmerged: W x + s·B(A x)),
               and the same outputs without the adapter, so a test can see that the adapter moves them.

PEFT initialises B to zero (an adapter that changes nothing); the factors here are drawn from a seeded
normal distribution instead, large enough that every adapted projection moves the outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
EMBEDDING_DIR = FIXTURES / "tiny-qwen3-embedding"
RERANKER_DIR = FIXTURES / "tiny-qwen3-reranker"
OUTPUT = FIXTURES / "training" / "peft-adapter"

DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"
QUERIES = ["What is the capital of China?", "Explain gravity"]
DOCUMENTS = [
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other.",
    "東京は日本の首都です。",
]
PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
          "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def randomize_lora(model: torch.nn.Module, seed: int, std: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def last_token_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    lengths = mask.sum(dim=1) - 1
    return states[torch.arange(states.shape[0]), lengths]


def embeddings(model, tokenizer, texts: list[str]) -> list[list[float]]:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=8192, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    return F.normalize(last_token_pool(states, batch["attention_mask"]), p=2, dim=1).tolist()


def reranker_scores(model, tokenizer, query: str, documents: list[str]) -> list[float]:
    prefix = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(SUFFIX, add_special_tokens=False)
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    scores = []
    for document in documents:
        body = f"<Instruct>: {DEFAULT_TASK}\n<Query>: {query}\n<Document>: {document}"
        ids = prefix + tokenizer.encode(body, add_special_tokens=False) + suffix
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        pair = torch.log_softmax(torch.stack([logits[no], logits[yes]]), dim=0)
        scores.append(pair[1].exp().item())
    return scores


def main() -> None:
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True)
    golden: dict = {
        "reference": "transformers 5 fp32 + peft (unmerged LoRA), official embedding and reranker recipes",
        "queries": QUERIES,
        "documents": DOCUMENTS,
        "instruction": DEFAULT_TASK,
    }

    # Embedding model: a bare Qwen3Model, every projection adapted.
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDING_DIR, padding_side="right")
    base = AutoModel.from_pretrained(EMBEDDING_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    texts = [f"Instruct: {DEFAULT_TASK}\nQuery:{q}" for q in QUERIES] + DOCUMENTS
    plain = embeddings(base, tokenizer, texts)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="FEATURE_EXTRACTION",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, config)
    randomize_lora(model, seed=1601, std=0.25)
    model.eval()
    adapted = embeddings(model, tokenizer, texts)
    model.save_pretrained(OUTPUT / "embedding")
    reloaded = PeftModel.from_pretrained(
        AutoModel.from_pretrained(EMBEDDING_DIR, dtype=torch.float32, attn_implementation="eager"), OUTPUT / "embedding").eval()
    assert torch.allclose(torch.tensor(embeddings(reloaded, tokenizer, texts)), torch.tensor(adapted), atol=1e-6)
    golden["embedding"] = {"model": EMBEDDING_DIR.name, "texts": texts, "embeddings": adapted, "without_adapter": plain}

    # Reranker: Qwen3ForCausalLM, three projections of layer 1 picked by a regex, rsLoRA scale.
    tokenizer = AutoTokenizer.from_pretrained(RERANKER_DIR)
    base = AutoModelForCausalLM.from_pretrained(RERANKER_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    plain = [reranker_scores(base, tokenizer, q, DOCUMENTS) for q in QUERIES]
    config = LoraConfig(r=2, lora_alpha=3, lora_dropout=0.0, bias="none", use_rslora=True,
                        target_modules=r".*\.1\.(self_attn\.(q_proj|v_proj)|mlp\.down_proj)")
    model = get_peft_model(base, config)
    randomize_lora(model, seed=1602, std=0.5)
    model.eval()
    adapted = [reranker_scores(model, tokenizer, q, DOCUMENTS) for q in QUERIES]
    model.save_pretrained(OUTPUT / "reranker")
    golden["reranker"] = {"model": RERANKER_DIR.name, "scores": adapted, "without_adapter": plain}

    for directory, base_directory in (("embedding", EMBEDDING_DIR), ("reranker", RERANKER_DIR)):
        readme = OUTPUT / directory / "README.md"  # peft's model card; not needed by either reader
        if readme.exists():
            readme.unlink()
        # peft records the absolute path it loaded from; keep the committed file free of this machine's paths.
        config_path = OUTPUT / directory / "adapter_config.json"
        saved = json.loads(config_path.read_text())
        saved["base_model_name_or_path"] = base_directory.name
        config_path.write_text(json.dumps(saved, indent=2, sort_keys=True))
    (OUTPUT / "golden.json").write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
