#!/usr/bin/env python3
"""Golden outputs of PyTorch autograd for the Swift fine-tuning code (issue 16), and the synthetic task.

Run once (outputs are committed; CI never installs torch):

    python3 -m venv Scripts/.venv-training
    Scripts/.venv-training/bin/pip install -r Scripts/requirements-training.txt
    Scripts/.venv-training/bin/python Scripts/make_training_fixtures.py [--skip-learning] [--only CASE ...]

It writes Tests/Fixtures/training/ (except losses/ and peft-adapter/, which other scripts own); see the
README.md there for every file, tensor name and shape, and what each Swift test compares.

How the goldens are computed. The models are the committed tiny fixtures (Tests/Fixtures/tiny-qwen3-*),
loaded with transformers in float64 (the bf16 embedding weights widen exactly), with LoRA applied by peft
(`PeftModel.from_pretrained` on an adapter written by `save_pretrained`, so the adapter files themselves
are what the Swift side loads). Every text is run as its own sequence (no padding), the final-norm state
of its last token is pooled, the loss of TRAINING.md is computed and `backward()` gives the gradients,
stored in fp32. Transformers runs RMSNorm and the attention softmax in fp32 even in a float64 model, so
the references are fp32-accurate (about 1e-7 relative), far inside the 1e-4 the tests allow.

Independent checks (all asserted, figures printed): a from-scratch float64 Qwen3 forward written here
(`ReferenceQwen3`, no transformers, no peft) reproduces every loss; central finite differences of that
forward on chosen coordinates reproduce the autograd gradients; the states of the LoRA cases equal those of
the model with the adapter merged; the AdamW steps are replayed by a hand-written AdamW.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

from peft import LoraConfig, PeftModel, get_peft_model

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
EMBEDDING_DIR = FIXTURES / "tiny-qwen3-embedding"
RERANKER_DIR = FIXTURES / "tiny-qwen3-reranker"
OUT = FIXTURES / "training"

DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
RERANKER_PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
                   "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
RERANKER_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
NO_ID, YES_ID = 2152, 9693
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MAX_LENGTH = 8192

# --- Data of the gradient cases ------------------------------------------------------------------------

EMBEDDING_INSTRUCTION = "Given a question, retrieve passages that answer it"
# The batch of the embedding cases: query, positive, 2 hard negatives. Example 2's positive is example 0's
# positive (the text rule must mask it; the pairing is deliberately odd), example 3 has no instruction (the
# default applies). Chosen by a seeded search over a pool of such texts so that, both for the base model
# (embedding-full) and with the random adapter (embedding-lora): the similarity rule masks terms whose text
# differs from the positive, the text rule masks terms the similarity rule keeps, every kind of term keeps
# some terms, every example keeps at least 17 terms, and no similarity lies within 0.009 of its threshold
# (asserted by `check_mask_coverage`).
EMBEDDING_EXAMPLES = [
    {"query": "How do bees make honey?", "positive": "Bees turn nectar into honey.",
     "negatives": ["The sky is blue.", "Light travels fast."], "instruction": EMBEDDING_INSTRUCTION},
    {"query": "Who wrote Hamlet?", "positive": "Shakespeare wrote Hamlet.",
     "negatives": ["Honey is sweet.", "Cats sleep a lot."], "instruction": EMBEDDING_INSTRUCTION},
    {"query": "Why is the sky blue?", "positive": "Bees turn nectar into honey.",
     "negatives": ["France borders Spain.", "A river flows to the sea."], "instruction": EMBEDDING_INSTRUCTION},
    {"query": "What is honey made of?", "positive": "Honey is made from nectar.",
     "negatives": ["Rome has many old churches.", "Cats sleep a lot."]},
]

RERANKER_INSTRUCTION = "Given a question, retrieve passages that answer it"
RERANKER_EXAMPLES = [
    {"query": "What is the capital of France?", "positive": "Paris is the capital of France.",
     "negatives": ["Berlin is in Germany.", "Bees live in hives."], "instruction": RERANKER_INSTRUCTION},
    {"query": "How do bees make honey?", "positive": "Bees turn nectar into honey.",
     "negatives": ["Honey is sweet.", "The moon orbits the Earth."]},
    {"query": "Why is the sky blue?", "positive": "Sunlight scatters off air molecules.",
     "negatives": ["The sky is blue.", "Cats sleep a lot."], "instruction": RERANKER_INSTRUCTION},
]


# --- Small utilities -------------------------------------------------------------------------------------

def f32(values) -> list:
    """Values rounded to fp32, written with enough digits to round-trip."""
    array = np.asarray(values, dtype=np.float32)
    return json.loads(json.dumps(array.tolist()))


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = max(float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) / scale


def canonical_lora_name(peft_name: str) -> str:
    """`base_model.model.[model.]layers.0.self_attn.q_proj.lora_A.default.weight` → `layers.0.self_attn.q_proj.lora_A.weight`."""
    name = peft_name.replace(".default", "")
    name = name[len("base_model.model."):] if name.startswith("base_model.model.") else name
    return name[len("model."):] if name.startswith("model.") else name


def canonical_full_name(name: str) -> str:
    return name[len("model."):] if name.startswith("model.") else name


def sparse_rows(name: str, gradient: torch.Tensor) -> dict[str, torch.Tensor]:
    """A vocabulary-sized gradient as its non-zero rows plus their int64 indices."""
    rows = torch.nonzero(gradient.abs().sum(dim=1) != 0).flatten()
    return {name: gradient[rows].float().contiguous(), name + ".rows": rows.to(torch.int64).contiguous()}


def gradient_file(entries: dict[str, torch.Tensor], path: Path, sparse: set[str] = frozenset()) -> dict:
    tensors: dict[str, torch.Tensor] = {}
    for name, gradient in entries.items():
        if name in sparse:
            tensors.update(sparse_rows(name, gradient))
        else:
            tensors[name] = gradient.float().contiguous()
    save_file(tensors, str(path))
    return {name: list(t.shape) for name, t in tensors.items()}


# --- Tokenisation exactly as the Swift side formats texts ---------------------------------------------

class Formatting:
    def __init__(self) -> None:
        self.embedding = AutoTokenizer.from_pretrained(EMBEDDING_DIR)
        self.reranker = AutoTokenizer.from_pretrained(RERANKER_DIR)
        self.prefix = self.reranker.encode(RERANKER_PREFIX, add_special_tokens=False)
        self.suffix = self.reranker.encode(RERANKER_SUFFIX, add_special_tokens=False)
        assert self.reranker.convert_tokens_to_ids("no") == NO_ID and self.reranker.convert_tokens_to_ids("yes") == YES_ID

    def query(self, text: str, instruction: str | None) -> list[int]:
        ids = self.embedding(f"Instruct: {instruction or DEFAULT_INSTRUCTION}\nQuery:{text}",
                             truncation=True, max_length=MAX_LENGTH)["input_ids"]
        assert ids[-1] == 151643, "the embedding tokenizer appends <|endoftext|>"
        return ids

    def document(self, text: str) -> list[int]:
        ids = self.embedding(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        assert ids[-1] == 151643
        return ids

    def pair(self, query: str, document: str, instruction: str | None) -> list[int]:
        body = f"<Instruct>: {instruction or DEFAULT_INSTRUCTION}\n<Query>: {query}\n<Document>: {document}"
        ids = self.reranker(body, truncation=True,
                            max_length=MAX_LENGTH - len(self.prefix) - len(self.suffix))["input_ids"]
        return self.prefix + ids + self.suffix


# --- Models ---------------------------------------------------------------------------------------------

def load_embedding_base(dtype=torch.float64):
    model = AutoModel.from_pretrained(EMBEDDING_DIR, dtype=dtype, attn_implementation="eager")
    assert type(model).__name__ == "Qwen3Model"
    return model.train()  # dropout is 0 in the config; train() only so that nothing is cached


def load_reranker_base(dtype=torch.float64):
    model = AutoModelForCausalLM.from_pretrained(RERANKER_DIR, dtype=dtype, attn_implementation="eager")
    return model.train()


def make_adapter(base_loader, directory: Path, rank: int, alpha: int, seed: int, b_std: float,
                 base_name: str) -> None:
    """A PEFT adapter with random, non-zero A and B, written by peft's own save_pretrained (fp32)."""
    base = base_loader(torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=TARGETS, lora_dropout=0.0, bias="none")
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if "lora_A" in name:
                bound = 1.0 / math.sqrt(parameter.shape[1])
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)
            elif "lora_B" in name:
                parameter.copy_(b_std * torch.randn(parameter.shape, generator=generator))
    if directory.exists():
        shutil.rmtree(directory)
    model.save_pretrained(directory)
    config_path = directory / "adapter_config.json"
    saved = json.loads(config_path.read_text())
    saved["base_model_name_or_path"] = base_name  # not this machine's absolute path
    saved["target_modules"] = sorted(saved["target_modules"])  # peft writes a set: order varies per run
    config_path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    readme = directory / "README.md"
    if readme.exists():
        readme.unlink()  # peft's model card template: noise in the fixture tree


def load_lora(base, adapter: Path):
    model = PeftModel.from_pretrained(base, adapter, is_trainable=True)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_("lora_" in name)
        assert parameter.dtype == torch.float64, (name, parameter.dtype)
    return model


def lora_parameters(model) -> dict[str, torch.nn.Parameter]:
    return {canonical_lora_name(n): p for n, p in model.named_parameters() if "lora_" in n}


def full_parameters(model) -> dict[str, torch.nn.Parameter]:
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return {canonical_full_name(n): p for n, p in model.named_parameters()}


def last_states(decoder, sequences: list[list[int]]) -> torch.Tensor:
    """Final-norm state of each sequence's last token, one sequence per forward (no padding)."""
    rows = []
    for ids in sequences:
        output = decoder(input_ids=torch.tensor([ids]), use_cache=False)
        rows.append(output.last_hidden_state[0, -1])
    return torch.stack(rows)


# --- Losses of TRAINING.md (differentiable; masks from detached similarities) --------------------------

class InfoNCE:
    def __init__(self, temperature=0.05, margin=0.1, query_query=True, document_document=True, in_batch=True):
        self.temperature, self.margin = temperature, margin
        self.query_query, self.document_document, self.in_batch = query_query, document_document, in_batch

    def __call__(self, queries: torch.Tensor, documents: list[torch.Tensor], texts: list[list[str]]):
        """queries [N, H] raw states; documents[i] [1+K, H] raw states (positive first); texts[i] their texts.

        Returns the loss and a record of every term (kind, i, j/k, s, mask reason) for the fixtures."""
        q = F.normalize(queries, dim=-1)
        d = [F.normalize(x, dim=-1) for x in documents]
        n = q.shape[0]
        losses, record = [], []
        for i in range(n):
            positive = q[i] @ d[i][0]
            threshold = float(positive.detach()) + self.margin
            logits = [positive / self.temperature]

            def consider(kind, similarity, other, text):
                value = float(similarity.detach())
                by_similarity = value > threshold
                by_text = text is not None and text == texts[i][0]
                record.append({"example": i, "kind": kind, "other": other, "similarity": value,
                               "threshold": threshold, "masked_by_similarity": by_similarity,
                               "masked_by_text": by_text})
                if not (by_similarity or by_text):
                    logits.append(similarity / self.temperature)

            for k in range(1, d[i].shape[0]):
                consider("hard_negative", q[i] @ d[i][k], [i, k], texts[i][k])
            if self.in_batch:
                for j in range(n):
                    if j == i:
                        continue
                    if self.query_query:
                        consider("query_query", q[i] @ q[j], [j], None)
                    if self.document_document:
                        for k in range(d[j].shape[0]):
                            consider("document_document", d[i][0] @ d[j][k], [j, k], texts[j][k])
                    for k in range(d[j].shape[0]):
                        consider("query_document", q[i] @ d[j][k], [j, k], texts[j][k])
            losses.append(torch.logsumexp(torch.stack(logits), 0) - positive / self.temperature)
        return torch.stack(losses).mean(), record


def infonce_vectorised(loss: InfoNCE, queries: torch.Tensor, documents: torch.Tensor, texts: list[list[str]]) -> torch.Tensor:
    """The same loss as `InfoNCE.__call__` with matrix products (for the learning prototype; checked equal to
    the term-by-term version on the golden batch). documents [N, 1+K, H]."""
    n, m, _ = documents.shape
    q = F.normalize(queries, dim=-1)
    d = F.normalize(documents, dim=-1)
    flat = d.reshape(n * m, -1)
    positive = (q * d[:, 0]).sum(-1)
    threshold = positive.detach()[:, None] + loss.margin
    same_text = torch.tensor([[texts[j][k] == texts[i][0] for j in range(n) for k in range(m)] for i in range(n)])
    own = torch.arange(n * m)[None, :] // m == torch.arange(n)[:, None]
    blocks = []

    def add(similarities, excluded, text_rule):
        masked = excluded | (similarities.detach() > threshold)
        if text_rule is not None:
            masked = masked | text_rule
        blocks.append(similarities.masked_fill(masked, float("-inf")))

    hard = torch.einsum("nh,nkh->nk", q, d[:, 1:])
    add(hard, torch.zeros_like(hard, dtype=torch.bool), same_text[own].view(n, m)[:, 1:])
    if loss.in_batch:
        if loss.query_query:
            add(q @ q.T, torch.eye(n, dtype=torch.bool), None)
        if loss.document_document:
            add(d[:, 0] @ flat.T, own, same_text)
        add(q @ flat.T, own, same_text)
    logits = torch.cat([positive[:, None], *blocks], dim=1) / loss.temperature
    return (torch.logsumexp(logits, dim=1) - positive / loss.temperature).mean()


def reranker_loss(logits: torch.Tensor, mode: str) -> torch.Tensor:
    """logits [N, 1+K, 2] = [no, yes] per document, positive first."""
    if mode == "pointwise":
        n, m, _ = logits.shape
        targets = torch.zeros(n, m, dtype=torch.long)
        targets[:, 0] = 1  # yes for the positive, no for the negatives
        return F.cross_entropy(logits.reshape(n * m, 2), targets.reshape(-1))
    yes = logits[:, :, 1]
    return F.cross_entropy(yes, torch.zeros(yes.shape[0], dtype=torch.long))


# --- An independent float64 Qwen3 (no transformers, no peft), for the checks ----------------------------

class ReferenceQwen3:
    def __init__(self, directory: Path, prefix: str = "") -> None:
        config = json.loads((directory / "config.json").read_text())
        self.hidden = config["hidden_size"]
        self.heads, self.kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
        self.head_dim, self.layers = config["head_dim"], config["num_hidden_layers"]
        self.eps = config["rms_norm_eps"]
        self.theta = (config.get("rope_parameters") or {}).get("rope_theta") or config["rope_theta"]
        weights = {}
        for file in sorted(directory.glob("*.safetensors")):
            weights.update(load_file(str(file)))
        self.weights = {canonical_full_name(k): v.to(torch.float64) for k, v in weights.items()}
        if "lm_head.weight" not in self.weights:
            self.weights["lm_head.weight"] = self.weights["embed_tokens.weight"]
        self.lora: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.scale = 0.0

    def set_lora(self, tensors: dict[str, torch.Tensor], scale: float) -> None:
        self.scale = scale
        self.lora = {}
        for name, value in tensors.items():
            if name.endswith("lora_A.weight"):
                module = name[: -len(".lora_A.weight")]
                self.lora[module] = (value.to(torch.float64), tensors[module + ".lora_B.weight"].to(torch.float64))

    def linear(self, module: str, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weights[module + ".weight"].T
        if module in self.lora:
            a, b = self.lora[module]
            y = y + self.scale * ((x @ a.T) @ b.T)
        return y

    def norm(self, x: torch.Tensor, weight: str) -> torch.Tensor:
        return self.weights[weight] * x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps)

    def states(self, ids: list[int]) -> torch.Tensor:
        """Every position's final-norm state."""
        w = self.weights
        x = w["embed_tokens.weight"][torch.tensor(ids)]
        t = len(ids)
        positions = torch.arange(t, dtype=torch.float64)
        inverse = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim))
        angles = torch.outer(positions, inverse)
        cos, sin = torch.cos(angles).repeat(1, 2), torch.sin(angles).repeat(1, 2)

        def rope(v):  # v [heads, t, head_dim], the rotate-half convention
            half = self.head_dim // 2
            rotated = torch.cat([-v[..., half:], v[..., :half]], dim=-1)
            return v * cos + rotated * sin

        causal = torch.triu(torch.full((t, t), float("-inf"), dtype=torch.float64), diagonal=1)
        for layer in range(self.layers):
            p = f"layers.{layer}."
            h = self.norm(x, p + "input_layernorm.weight")
            q = self.linear(p + "self_attn.q_proj", h).view(t, self.heads, self.head_dim).transpose(0, 1)
            k = self.linear(p + "self_attn.k_proj", h).view(t, self.kv_heads, self.head_dim).transpose(0, 1)
            v = self.linear(p + "self_attn.v_proj", h).view(t, self.kv_heads, self.head_dim).transpose(0, 1)
            q = rope(self.norm(q, p + "self_attn.q_norm.weight"))
            k = rope(self.norm(k, p + "self_attn.k_norm.weight"))
            group = self.heads // self.kv_heads
            k, v = k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
            scores = q @ k.transpose(1, 2) / math.sqrt(self.head_dim) + causal
            attention = torch.softmax(scores, dim=-1) @ v
            x = x + self.linear(p + "self_attn.o_proj", attention.transpose(0, 1).reshape(t, -1))
            h = self.norm(x, p + "post_attention_layernorm.weight")
            gate = self.linear(p + "mlp.gate_proj", h)
            x = x + self.linear(p + "mlp.down_proj", F.silu(gate) * self.linear(p + "mlp.up_proj", h))
        return self.norm(x, "norm.weight")

    def last(self, sequences: list[list[int]]) -> torch.Tensor:
        return torch.stack([self.states(ids)[-1] for ids in sequences])

    def tensor(self, name: str) -> torch.Tensor:
        """The live tensor behind a canonical trainable name (LoRA or base)."""
        if ".lora_" in name:
            module, which = name.rsplit(".lora_", 1)
            return self.lora[module][0 if which.startswith("A") else 1]
        return self.weights[name]


def finite_difference_check(reference: ReferenceQwen3, loss_of, gradients: dict[str, torch.Tensor],
                            names: list[str], seed: int, step: float = 1e-5) -> float:
    """Central differences of the float64 reference loss on the largest and one random coordinate of each
    named tensor; returns the worst |fd − autograd| / max|g of that tensor|."""
    generator = random.Random(seed)
    worst = 0.0
    for name in names:
        gradient = gradients[name]
        flat = gradient.flatten()
        largest = int(flat.abs().argmax())
        nonzero = torch.nonzero(flat).flatten().tolist()
        coordinates = [largest, generator.choice(nonzero)]
        tensor = reference.tensor(name).view(-1)
        for coordinate in coordinates:
            original = float(tensor[coordinate])
            tensor[coordinate] = original + step
            plus = float(loss_of())
            tensor[coordinate] = original - step
            minus = float(loss_of())
            tensor[coordinate] = original
            estimate = (plus - minus) / (2 * step)
            error = abs(estimate - float(flat[coordinate])) / float(flat.abs().max())
            worst = max(worst, error)
            assert error < 1e-5, f"finite differences disagree on {name}[{coordinate}]: {estimate} vs {float(flat[coordinate])}"
    return worst


# --- Embedding cases -----------------------------------------------------------------------------------

def embedding_examples() -> list[dict]:
    return [dict(e) for e in EMBEDDING_EXAMPLES]


def embedding_batch(formatting: Formatting, examples: list[dict]):
    query_ids = [formatting.query(e["query"], e.get("instruction")) for e in examples]
    document_texts = [[e["positive"], *e["negatives"]] for e in examples]
    document_ids = [[formatting.document(t) for t in texts] for texts in document_texts]
    return query_ids, document_ids, document_texts


def embedding_forward(decoder, query_ids, document_ids):
    queries = last_states(decoder, query_ids)
    documents = [last_states(decoder, ids) for ids in document_ids]
    return queries, documents


def summarise_masks(record: list[dict]) -> dict:
    gaps = [abs(r["similarity"] - r["threshold"]) for r in record]
    return {
        "terms": len(record),
        "masked_by_similarity_only": sum(r["masked_by_similarity"] and not r["masked_by_text"] for r in record),
        "masked_by_text_only": sum(r["masked_by_text"] and not r["masked_by_similarity"] for r in record),
        "masked_by_both": sum(r["masked_by_text"] and r["masked_by_similarity"] for r in record),
        "unmasked": sum(not (r["masked_by_text"] or r["masked_by_similarity"]) for r in record),
        "smallest_distance_to_threshold": min(gaps),
    }


def check_mask_coverage(record: list[dict]) -> None:
    """The batch must exercise both mask rules, and no similarity may sit so close to its threshold that
    fp32 rounding could flip a mask."""
    kinds = {}
    for r in record:
        state = "text" if r["masked_by_text"] else ("similarity" if r["masked_by_similarity"] else "kept")
        kinds.setdefault(r["kind"], set()).add(state)
    assert any(r["masked_by_similarity"] and not r["masked_by_text"] for r in record), "no term masked by the similarity rule alone"
    assert any(r["masked_by_text"] and not r["masked_by_similarity"] for r in record), "no term masked by the text rule alone"
    for kind in ("hard_negative", "query_query", "document_document", "query_document"):
        assert "kept" in kinds.get(kind, set()), f"every {kind} term is masked: its gradient would be untested"
    for i in {r["example"] for r in record}:
        assert any(not (r["masked_by_similarity"] or r["masked_by_text"]) for r in record if r["example"] == i), \
            f"every term of example {i} is masked: its loss would be constant"
    gap = min(abs(r["similarity"] - r["threshold"]) for r in record)
    assert gap > 5e-3, f"a similarity is {gap} from its mask threshold"


def state_payload(query_ids, document_ids, document_texts, queries, documents, query_grads=None, document_grads=None):
    examples = []
    for i in range(len(query_ids)):
        entry = {
            "query_ids": query_ids[i],
            "document_texts": document_texts[i],
            "document_ids": document_ids[i],
            "query_state": f32(queries[i].detach()),
            "document_states": f32(documents[i].detach()),
        }
        if query_grads is not None:
            entry["query_state_gradient"] = f32(query_grads[i])
            entry["document_state_gradients"] = f32(document_grads[i])
        examples.append(entry)
    return examples


INFONCE_VARIANTS = {
    "default": {},
    "no-query-query": {"query_query": False},
    "no-document-document": {"document_document": False},
    "no-in-batch-negatives": {"in_batch": False},
}


def loss_settings(loss: InfoNCE) -> dict:
    return {"type": "infonce", "temperature": loss.temperature, "false_negative_margin": loss.margin,
            "include_query_query": loss.query_query, "include_document_document": loss.document_document,
            "include_in_batch_negatives": loss.in_batch}


def case_embedding_lora(formatting: Formatting, summary: dict) -> None:
    folder = OUT / "embedding-lora"
    folder.mkdir(parents=True, exist_ok=True)
    rank, alpha = 4, 8
    make_adapter(load_embedding_base, folder / "adapter", rank, alpha, seed=11, b_std=0.1,
                 base_name="tiny-qwen3-embedding")
    examples = embedding_examples()
    write_jsonl(folder / "data.jsonl", examples)
    query_ids, document_ids, document_texts = embedding_batch(formatting, examples)

    model = load_lora(load_embedding_base(), folder / "adapter")
    parameters = lora_parameters(model)
    assert len(parameters) == 2 * 7 * 2
    reference = ReferenceQwen3(EMBEDDING_DIR)
    reference.set_lora({k: v.detach().clone() for k, v in parameters.items()}, alpha / rank)

    variants = []
    for variant, flags in INFONCE_VARIANTS.items():
        loss_fn = InfoNCE(**flags)
        model.zero_grad(set_to_none=True)
        queries, documents = embedding_forward(model, query_ids, document_ids)
        queries.retain_grad()
        for d in documents:
            d.retain_grad()
        loss, record = loss_fn(queries, documents, document_texts)
        loss.backward()
        gradients = {name: p.grad.detach().clone() for name, p in parameters.items()}
        assert all(float(g.abs().max()) > 0 for g in gradients.values()), "a LoRA tensor got no gradient"

        def reference_loss():
            q = reference.last(query_ids)
            d = [reference.last(ids) for ids in document_ids]
            return loss_fn(q, d, document_texts)[0]

        vectorised = float(infonce_vectorised(loss_fn, queries.detach(), torch.stack(documents).detach(), document_texts))
        assert abs(vectorised - float(loss.detach())) < 1e-12, (variant, vectorised, float(loss.detach()))
        with torch.no_grad():
            independent = float(reference_loss())
        assert abs(independent - float(loss.detach())) < 1e-6, (variant, independent, float(loss.detach()))
        file = "gradients.safetensors" if variant == "default" else f"gradients-{variant}.safetensors"
        shapes = gradient_file(gradients, folder / file)
        entry = {"name": variant, "loss": loss_settings(loss_fn), "loss_value": float(loss.detach()), "gradients": file,
                 "masks": summarise_masks(record), "independent_loss": independent}
        if variant == "default":
            check_mask_coverage(record)
            with torch.no_grad():
                worst = finite_difference_check(
                    reference, reference_loss, gradients,
                    ["layers.0.self_attn.q_proj.lora_A.weight", "layers.0.self_attn.k_proj.lora_B.weight",
                     "layers.1.self_attn.v_proj.lora_A.weight", "layers.1.self_attn.o_proj.lora_B.weight",
                     "layers.0.mlp.gate_proj.lora_B.weight", "layers.1.mlp.up_proj.lora_A.weight",
                     "layers.1.mlp.down_proj.lora_A.weight"], seed=1)
            entry["finite_difference_worst_relative_error"] = worst
            default_payload = (queries, documents, record, shapes,
                               [q for q in queries.grad], [d.grad for d in documents])
        else:
            assert abs(float(loss.detach()) - variants[0]["loss_value"]) > 1e-4, f"{variant} does not change the loss"
        variants.append(entry)

    queries, documents, record, shapes, query_grads, document_grads = default_payload
    with torch.no_grad():
        merged_states = reference.last(query_ids)
    merged_difference = float((merged_states - queries.detach()).abs().max())
    assert merged_difference < 1e-5
    case = {
        "description": "InfoNCE gradients of LoRA A and B (all seven targets, both layers) on tiny-qwen3-embedding, "
                       "from a non-zero adapter; PyTorch autograd (transformers + peft, float64 model).",
        "model": "tiny-qwen3-embedding",
        "task": "embedding",
        "method": "lora",
        "lora": {"rank": rank, "alpha": alpha, "targets": TARGETS, "initial_adapter": "adapter"},
        "default_instruction": DEFAULT_INSTRUCTION,
        "max_length": MAX_LENGTH,
        "data": "data.jsonl",
        "loss": variants[0]["loss"],
        "loss_value": variants[0]["loss_value"],
        "gradients": "gradients.safetensors",
        "gradient_shapes": shapes,
        "examples": state_payload(query_ids, document_ids, document_texts, queries, documents, query_grads, document_grads),
        "mask_terms": record,
        "variants": variants,
        "checks": {"independent_forward_loss_difference": abs(variants[0]["independent_loss"] - variants[0]["loss_value"]),
                   "finite_difference_worst_relative_error": variants[0]["finite_difference_worst_relative_error"],
                   "independent_forward_state_max_difference": merged_difference},
    }
    write_json(folder / "case.json", case)
    summary["embedding-lora"] = {v["name"]: v["loss_value"] for v in variants} | {"masks": variants[0]["masks"]}


def case_embedding_full(formatting: Formatting, summary: dict) -> None:
    folder = OUT / "embedding-full"
    folder.mkdir(parents=True, exist_ok=True)
    examples = embedding_examples()
    write_jsonl(folder / "data.jsonl", examples)
    query_ids, document_ids, document_texts = embedding_batch(formatting, examples)
    model = load_embedding_base()
    parameters = full_parameters(model)
    loss_fn = InfoNCE()
    queries, documents = embedding_forward(model, query_ids, document_ids)
    queries.retain_grad()
    for d in documents:
        d.retain_grad()
    loss, record = loss_fn(queries, documents, document_texts)
    loss.backward()
    check_mask_coverage(record)
    gradients = {name: p.grad.detach().clone() for name, p in parameters.items()}
    for name, g in gradients.items():
        assert float(g.abs().max()) > 0, f"{name} got no gradient"
    touched = sorted({t for ids in query_ids + [i for row in document_ids for i in row] for t in ids})
    rows = torch.nonzero(gradients["embed_tokens.weight"].abs().sum(1)).flatten().tolist()
    assert rows == touched, "embedding rows with gradient must be exactly the tokens used"

    reference = ReferenceQwen3(EMBEDDING_DIR)

    def reference_loss():
        q = reference.last(query_ids)
        d = [reference.last(ids) for ids in document_ids]
        return loss_fn(q, d, document_texts)[0]

    with torch.no_grad():
        independent = float(reference_loss())
        assert abs(independent - float(loss.detach())) < 1e-6
        worst = finite_difference_check(
            reference, reference_loss, gradients,
            ["embed_tokens.weight", "layers.0.input_layernorm.weight", "layers.0.self_attn.q_norm.weight",
             "layers.1.self_attn.k_norm.weight", "layers.1.post_attention_layernorm.weight", "norm.weight",
             "layers.0.self_attn.o_proj.weight", "layers.1.mlp.down_proj.weight", "layers.0.self_attn.k_proj.weight"],
            seed=2)
    shapes = gradient_file(gradients, folder / "gradients.safetensors", sparse={"embed_tokens.weight"})
    case = {
        "description": "InfoNCE gradients of every weight of tiny-qwen3-embedding (full fine-tuning), same data and loss "
                       "as embedding-lora without the adapter; embed_tokens.weight stored as its touched rows.",
        "model": "tiny-qwen3-embedding",
        "task": "embedding",
        "method": "full",
        "default_instruction": DEFAULT_INSTRUCTION,
        "max_length": MAX_LENGTH,
        "data": "data.jsonl",
        "loss": loss_settings(loss_fn),
        "loss_value": float(loss.detach()),
        "gradients": "gradients.safetensors",
        "sparse_rows": {"embed_tokens.weight": "embed_tokens.weight.rows"},
        "gradient_shapes": shapes,
        "examples": state_payload(query_ids, document_ids, document_texts, queries, documents,
                                  list(queries.grad), [d.grad for d in documents]),
        "mask_terms": record,
        "masks": summarise_masks(record),
        "checks": {"independent_forward_loss_difference": abs(independent - float(loss.detach())),
                   "finite_difference_worst_relative_error": worst},
    }
    write_json(folder / "case.json", case)
    summary["embedding-full"] = {"loss": float(loss.detach()), "masks": summarise_masks(record)}


# --- Reranker cases ------------------------------------------------------------------------------------

def reranker_batch(formatting: Formatting):
    sequences, texts = [], []
    for e in RERANKER_EXAMPLES:
        documents = [e["positive"], *e["negatives"]]
        texts.append(documents)
        sequences.append([formatting.pair(e["query"], d, e.get("instruction")) for d in documents])
    return sequences, texts


def reranker_forward(causal_lm, sequences):
    """States [N, 1+K, H] and the [no, yes] logits at the last position [N, 1+K, 2]."""
    decoder = causal_lm.model
    head = causal_lm.lm_head.weight
    states = torch.stack([last_states(decoder, row) for row in sequences])
    logits = states @ head[[NO_ID, YES_ID]].T
    return states, logits


def reranker_reference_loss(reference: ReferenceQwen3, sequences, mode):
    states = torch.stack([reference.last(row) for row in sequences])
    logits = states @ reference.weights["lm_head.weight"][[NO_ID, YES_ID]].T
    return reranker_loss(logits, mode)


def reranker_case_payload(sequences, texts, states, logits, state_grads, logit_grads):
    examples = []
    for i, e in enumerate(RERANKER_EXAMPLES):
        examples.append({"query": e["query"], "instruction": e.get("instruction"), "document_texts": texts[i],
                         "ids": sequences[i], "states": f32(states[i].detach()), "logits": f32(logits[i].detach()),
                         "state_gradients": f32(state_grads[i]), "logit_gradients": f32(logit_grads[i])})
    return examples


def case_reranker_lora(formatting: Formatting, summary: dict) -> None:
    rank, alpha = 4, 8
    adapter = OUT / "reranker-lora-adapter"
    make_adapter(load_reranker_base, adapter, rank, alpha, seed=12, b_std=0.3, base_name="tiny-qwen3-reranker")
    sequences, texts = reranker_batch(formatting)
    for mode in ("pointwise", "listwise"):
        folder = OUT / f"reranker-lora-{mode}"
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(folder / "data.jsonl", RERANKER_EXAMPLES)
        model = load_lora(load_reranker_base(), adapter)
        parameters = lora_parameters(model)
        assert len(parameters) == 3 * 7 * 2
        causal_lm = model.base_model.model
        states, logits = reranker_forward(causal_lm, sequences)
        states.retain_grad()
        logits.retain_grad()
        loss = reranker_loss(logits, mode)
        loss.backward()
        gradients = {name: p.grad.detach().clone() for name, p in parameters.items()}
        assert all(float(g.abs().max()) > 0 for g in gradients.values())
        reference = ReferenceQwen3(RERANKER_DIR)
        reference.set_lora({k: v.detach().clone() for k, v in parameters.items()}, alpha / rank)
        with torch.no_grad():
            independent = float(reranker_reference_loss(reference, sequences, mode))
            assert abs(independent - float(loss.detach())) < 1e-6, (independent, float(loss.detach()))
            worst = finite_difference_check(
                reference, lambda: reranker_reference_loss(reference, sequences, mode), gradients,
                ["layers.0.self_attn.q_proj.lora_A.weight", "layers.2.self_attn.v_proj.lora_B.weight",
                 "layers.1.mlp.down_proj.lora_A.weight", "layers.2.mlp.gate_proj.lora_B.weight"], seed=3)
        shapes = gradient_file(gradients, folder / "gradients.safetensors")
        case = {
            "description": f"Reranker {mode} loss gradients of LoRA A and B (all seven targets, three layers) on "
                           "tiny-qwen3-reranker from a non-zero adapter; PyTorch autograd (transformers + peft, float64).",
            "model": "tiny-qwen3-reranker",
            "task": "reranker",
            "method": "lora",
            "lora": {"rank": rank, "alpha": alpha, "targets": TARGETS, "initial_adapter": "../reranker-lora-adapter"},
            "default_instruction": DEFAULT_INSTRUCTION,
            "max_length": MAX_LENGTH,
            "data": "data.jsonl",
            "loss": {"type": "reranker", "reranker_loss": mode},
            "yes_id": YES_ID, "no_id": NO_ID,
            "loss_value": float(loss.detach()),
            "gradients": "gradients.safetensors",
            "gradient_shapes": shapes,
            "examples": reranker_case_payload(sequences, texts, states, logits, states.grad, logits.grad),
            "checks": {"independent_forward_loss_difference": abs(independent - float(loss.detach())),
                       "finite_difference_worst_relative_error": worst},
        }
        write_json(folder / "case.json", case)
        summary[f"reranker-lora-{mode}"] = float(loss.detach())


def case_reranker_full(formatting: Formatting, summary: dict) -> None:
    folder = OUT / "reranker-full-pointwise"
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "data.jsonl", RERANKER_EXAMPLES)
    sequences, texts = reranker_batch(formatting)
    model = load_reranker_base()
    parameters = full_parameters(model)
    states, logits = reranker_forward(model, sequences)
    states.retain_grad()
    logits.retain_grad()
    loss = reranker_loss(logits, "pointwise")
    loss.backward()
    gradients = {name: p.grad.detach().clone() for name, p in parameters.items()}
    for name, g in gradients.items():
        assert float(g.abs().max()) > 0, f"{name} got no gradient"
    head_rows = torch.nonzero(gradients["lm_head.weight"].abs().sum(1)).flatten().tolist()
    assert head_rows == sorted([NO_ID, YES_ID])
    reference = ReferenceQwen3(RERANKER_DIR)
    with torch.no_grad():
        loss_of = lambda: reranker_reference_loss(reference, sequences, "pointwise")  # noqa: E731
        independent = float(loss_of())
        assert abs(independent - float(loss.detach())) < 1e-6
        worst = finite_difference_check(
            reference, loss_of, gradients,
            ["embed_tokens.weight", "lm_head.weight", "norm.weight", "layers.0.self_attn.q_norm.weight",
             "layers.2.self_attn.k_norm.weight", "layers.1.input_layernorm.weight", "layers.2.mlp.up_proj.weight",
             "layers.0.self_attn.v_proj.weight"], seed=4)
    shapes = gradient_file(gradients, folder / "gradients.safetensors", sparse={"embed_tokens.weight", "lm_head.weight"})
    case = {
        "description": "Reranker pointwise loss gradients of every weight of tiny-qwen3-reranker (full fine-tuning), incl. "
                       "the untied lm_head (rows no/yes only are non-zero) and embed_tokens (touched rows).",
        "model": "tiny-qwen3-reranker",
        "task": "reranker",
        "method": "full",
        "default_instruction": DEFAULT_INSTRUCTION,
        "max_length": MAX_LENGTH,
        "data": "data.jsonl",
        "loss": {"type": "reranker", "reranker_loss": "pointwise"},
        "yes_id": YES_ID, "no_id": NO_ID,
        "loss_value": float(loss.detach()),
        "gradients": "gradients.safetensors",
        "sparse_rows": {"embed_tokens.weight": "embed_tokens.weight.rows", "lm_head.weight": "lm_head.weight.rows"},
        "gradient_shapes": shapes,
        "examples": reranker_case_payload(sequences, texts, states, logits, states.grad, logits.grad),
        "checks": {"independent_forward_loss_difference": abs(independent - float(loss.detach())),
                   "finite_difference_worst_relative_error": worst},
    }
    write_json(folder / "case.json", case)
    summary["reranker-full-pointwise"] = float(loss.detach())


# --- AdamW ----------------------------------------------------------------------------------------------

def linear_schedule(step: int, warmup: int, total: int) -> float:
    """transformers.get_linear_schedule_with_warmup's factor for optimizer step `step` (0-based)."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def case_adamw(formatting: Formatting, summary: dict) -> None:
    folder = OUT / "adamw-3-steps"
    folder.mkdir(parents=True, exist_ok=True)
    source = OUT / "embedding-lora"
    examples = embedding_examples()
    write_jsonl(folder / "data.jsonl", examples)
    query_ids, document_ids, document_texts = embedding_batch(formatting, examples)
    # max_norm 5 clips every step (norms ~20) without shrinking the gradients to the size of Adam's eps, where
    # the update would hang on fp32 rounding: with it, 1e-5-relative gradient noise moves the weights < 4e-6.
    lr, weight_decay, warmup, steps, max_norm = 1e-3, 0.01, 1, 3, 5.0
    rank, alpha = 4, 8

    def run(dtype):
        model = load_lora(load_embedding_base(), source / "adapter")
        parameters = lora_parameters(model)
        names = sorted(parameters)
        optimizer = torch.optim.AdamW([parameters[n] for n in names], lr=lr, betas=(0.9, 0.999), eps=1e-8,
                                      weight_decay=weight_decay)
        from transformers import get_linear_schedule_with_warmup
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, steps)
        loss_fn = InfoNCE()
        log, weights, gradients = [], [], []
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            queries, documents = embedding_forward(model, query_ids, document_ids)
            loss, _ = loss_fn(queries, documents, document_texts)
            loss.backward()
            raw = {n: parameters[n].grad.detach().clone() for n in names}
            norm = float(torch.nn.utils.clip_grad_norm_([parameters[n] for n in names], max_norm))
            current_lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            log.append({"step": step + 1, "loss": float(loss.detach()), "grad_norm": norm, "learning_rate": current_lr,
                        "clipped": norm > max_norm})
            weights.append({n: parameters[n].detach().clone() for n in names})
            gradients.append(raw)
        return names, log, weights, gradients

    names, log, weights, gradients = run(torch.float64)
    assert all(entry["clipped"] for entry in log), "clipping must fire on every step"
    assert [e["learning_rate"] for e in log] == [lr * linear_schedule(s, warmup, steps) for s in range(steps)]

    # Independent replay: a hand-written AdamW (PyTorch's algorithm) on the recorded raw gradients.
    start = {canonical_lora_name(k): v.to(torch.float64) for k, v in
             load_file(str(source / "adapter" / "adapter_model.safetensors")).items()}
    w = {n: start[n].clone() for n in names}
    m = {n: torch.zeros_like(w[n]) for n in names}
    v = {n: torch.zeros_like(w[n]) for n in names}
    worst = 0.0
    for step in range(steps):
        total = math.sqrt(sum(float((gradients[step][n] ** 2).sum()) for n in names))
        coefficient = min(1.0, max_norm / (total + 1e-6))
        rate = lr * linear_schedule(step, warmup, steps)
        t = step + 1
        for n in names:
            g = gradients[step][n] * coefficient
            w[n] = w[n] * (1 - rate * weight_decay)
            m[n] = 0.9 * m[n] + 0.1 * g
            v[n] = 0.999 * v[n] + 0.001 * g * g
            denominator = (v[n] / (1 - 0.999 ** t)).sqrt() + 1e-8
            w[n] = w[n] - rate * (m[n] / (1 - 0.9 ** t)) / denominator
            worst = max(worst, float((w[n] - weights[step][n]).abs().max()))
        assert abs(total - log[step]["grad_norm"]) < 1e-9 * max(1, total)
    assert worst < 1e-12, worst

    files = []
    for step in range(steps):
        file = f"weights-step-{step + 1}.safetensors"
        save_file({n: weights[step][n].float().contiguous() for n in names}, str(folder / file))
        files.append(file)
    initial_loss = json.loads((source / "case.json").read_text())["loss_value"]
    assert abs(log[0]["loss"] - initial_loss) < 1e-12
    smallest = min(float(g.abs().min()) for g in gradients[0].values())
    case = {
        "description": "Three AdamW steps (torch.optim.AdamW + transformers' linear schedule with warm-up + "
                       "clip_grad_norm_) on the embedding-lora batch, from its adapter, one batch per step, no shuffle.",
        "model": "tiny-qwen3-embedding",
        "task": "embedding",
        "method": "lora",
        "lora": {"rank": rank, "alpha": alpha, "targets": TARGETS, "initial_adapter": "../embedding-lora/adapter"},
        "data": "data.jsonl",
        "loss": loss_settings(InfoNCE()),
        "training": {"optimizer": "adamw", "learning_rate": lr, "weight_decay": weight_decay, "betas": [0.9, 0.999],
                     "eps": 1e-8, "scheduler": "linear", "warmup_steps": warmup, "max_steps": steps,
                     "batch_size": 4, "epochs": 3, "shuffle": False, "max_grad_norm": max_norm},
        "steps": [entry | {"weights": file} for entry, file in zip(log, files)],
        "checks": {"hand_written_adamw_max_difference": worst,
                   "smallest_abs_gradient_step_1": smallest},
    }
    write_json(folder / "case.json", case)
    summary["adamw-3-steps"] = log



# --- The synthetic learning task ------------------------------------------------------------------------

# Ten topics, twelve single-token keywords each. A document is 4 keywords of one topic, a query 2 keywords of
# one topic; a document is relevant to a query when their topics agree. The rule is learnable by a tiny
# model (the keyword → topic map), invisible to a random one, and the held-out split uses keyword
# combinations that no training text has.
TOPICS = {
    "fruit": "apple pear plum grape lemon cherry peach mango lime banana orange berry",
    "animals": "horse tiger sheep rabbit mouse eagle whale snake camel lion goat wolf",
    "weather": "rain snow storm cloud wind thunder fog frost hail sunshine breeze mist",
    "vehicles": "car truck bus train bicycle plane boat ship tractor taxi rocket scooter",
    "music": "guitar piano violin drum flute trumpet song melody rhythm choir concert band",
    "kitchen": "knife spoon fork plate bowl oven kettle pan cup stove dish mug",
    "sports": "soccer tennis golf hockey rugby boxing chess cricket baseball skiing surfing cycling",
    "clothing": "shirt jacket dress coat hat scarf glove sock shoe boot skirt sweater",
    "tools": "hammer saw drill wrench screw nail tape shovel rake ladder axe bolt",
    "body": "hand foot knee elbow shoulder finger ankle wrist chin neck thumb nose",
}
TASK_INSTRUCTION = "Topic"
TASK_SEED = 16
TRAIN_PER_TOPIC, CORPUS_PER_TOPIC, QUERIES_PER_TOPIC = 16, 24, 5
# Settings of the last prototype run (see the README: not yet learnable enough; multi-keyword texts were
# memorised without generalising, single keywords learn slowly but steadily).
DOCUMENT_WORDS, QUERY_WORDS = 1, 1
NEGATIVES = 3
# The prototype's settings (the Swift learning test uses the same; see the README).
LEARNING = {"rank": 16, "alpha": 32, "targets": TARGETS, "learning_rate": 3e-3, "batch_size": 10, "epochs": 16,
            "scheduler": "linear", "warmup_steps": 0, "weight_decay": 0.0, "max_grad_norm": 1.0,
            "negatives": NEGATIVES, "temperature": 0.05, "false_negative_margin": 0.1, "shuffle": False}


def build_synthetic_task(formatting: Formatting) -> dict:
    folder = OUT / "synthetic-task"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "heldout" / "qrels").mkdir(parents=True)
    rng = random.Random(TASK_SEED)
    words = {topic: text.split() for topic, text in TOPICS.items()}
    for topic, keywords in words.items():
        assert len(keywords) == 12 and len(set(keywords)) == 12
        for word in keywords:
            assert len(formatting.embedding.encode(" " + word, add_special_tokens=False)) == 1, word
    topics = list(words)
    used_documents, used_queries = set(), set()

    def new_combination(topic, size, used, unique=True):
        """A text of `size` keywords of `topic`; with `unique`, a set of keywords not in `used`."""
        while True:
            combination = tuple(sorted(rng.sample(words[topic], size)))
            if not unique or combination not in used:
                used.add(combination)
                shuffled = list(combination)
                rng.shuffle(shuffled)
                return " ".join(shuffled)

    train = []
    for index in range(TRAIN_PER_TOPIC):
        # Each run of len(TOPICS) examples has one example per topic (in a random order): a batch of that
        # size taken in file order (--no-shuffle) has no same-topic pair, so its in-batch negatives are true
        # negatives (same-topic texts in one batch would be pushed apart, the opposite of the rule).
        for topic in rng.sample(topics, len(topics)):
            query = new_combination(topic, QUERY_WORDS, used_queries, unique=False)
            # The positive shares no keyword with the query: only the topic links them.
            positive = query
            while positive == query:  # a positive equal to its query teaches nothing
                positive = new_combination(topic, DOCUMENT_WORDS, used_documents, unique=False)
            others = rng.sample([t for t in topics if t != topic], NEGATIVES)
            negatives = [new_combination(other, DOCUMENT_WORDS, used_documents, unique=False) for other in others]
            train.append({"query": query, "positive": positive, "negatives": negatives,
                          "instruction": TASK_INSTRUCTION})
    corpus, queries, qrels = [], [], []
    for topic in topics:
        if DOCUMENT_WORDS == 1:  # every keyword once: the held-out part is the query-document pairing
            corpus += [{"_id": f"{topic}-d{index}", "text": word} for index, word in enumerate(words[topic])]
            continue
        for index in range(CORPUS_PER_TOPIC):
            corpus.append({"_id": f"{topic}-d{index}", "text": new_combination(topic, DOCUMENT_WORDS, used_documents)})
    for topic in topics:
        for index in range(QUERIES_PER_TOPIC):
            query_id = f"{topic}-q{index}"
            queries.append({"_id": query_id, "text": new_combination(topic, QUERY_WORDS, used_queries, unique=QUERY_WORDS > 1)})
            qrels += [(query_id, document["_id"]) for document in corpus if document["_id"].startswith(topic + "-")]
    rng.shuffle(corpus)
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "heldout" / "corpus.jsonl", corpus)
    write_jsonl(folder / "heldout" / "queries.jsonl", queries)
    (folder / "heldout" / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels))
    write_json(folder / "task.json", {
        "name": "SyntheticTopicRetrieval",
        "type": "retrieval",
        "description": f"Synthetic held-out split of the fine-tuning learning test: {QUERY_WORDS}-keyword queries, "
                       f"{DOCUMENT_WORDS}-keyword documents, relevant = same topic ({len(TOPICS)} topics); made by "
                       "Scripts/make_training_fixtures.py.",
        "language": "en",
        "split": "test",
        "instruction": TASK_INSTRUCTION,
        "data": {"path": "heldout", "format": "beir", "qrels": "qrels/test.tsv"},
    })
    return {"train": train, "corpus": corpus, "queries": queries, "qrels": qrels}


def ndcg_at_10(embed, task) -> float:
    """nDCG@10 as our harness (and MTEB) computes it: cosine ranking of the whole corpus, linear gains."""
    documents = embed([d["text"] for d in task["corpus"]], None)
    queries = embed([q["text"] for q in task["queries"]], TASK_INSTRUCTION)
    relevant: dict[str, set] = {}
    for q, d in task["qrels"]:
        relevant.setdefault(q, set()).add(d)
    scores = queries @ documents.T
    total = 0.0
    for row, query in enumerate(task["queries"]):
        order = torch.argsort(scores[row], descending=True)[:10].tolist()
        judged = relevant[query["_id"]]
        dcg = sum(1 / math.log2(rank + 2) for rank, index in enumerate(order) if task["corpus"][index]["_id"] in judged)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(10, len(judged))))
        total += dcg / ideal
    return total / len(task["queries"])


def padded_states(model, tokenizer, texts: list[str], instruction: str | None) -> torch.Tensor:
    """Final-norm last-token states of a batch (right padding; a causal model's real tokens never see the pads)."""
    inputs = [f"Instruct: {instruction}\nQuery:{t}" if instruction else t for t in texts]
    batch = tokenizer(inputs, padding=True, return_tensors="pt")
    output = model(**batch).last_hidden_state
    last = batch["attention_mask"].sum(1) - 1
    return output[torch.arange(len(texts)), last]


def learnability(formatting: Formatting, task: dict, seed: int, shuffle: bool) -> dict:
    """The prototype of the Swift learning test: LoRA on tiny-qwen3-embedding with the InfoNCE of TRAINING.md."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDING_DIR)
    tokenizer.padding_side = "right"
    base = load_embedding_base(torch.float32)
    config = LoraConfig(r=LEARNING["rank"], lora_alpha=LEARNING["alpha"], target_modules=TARGETS, lora_dropout=0.0,
                        bias="none")
    model = get_peft_model(base, config)

    def embed(texts, instruction):
        with torch.no_grad():
            return F.normalize(torch.cat([padded_states(model, tokenizer, texts[i:i + 64], instruction)
                                          for i in range(0, len(texts), 64)]), dim=-1)

    before = ndcg_at_10(embed, task)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LEARNING["learning_rate"], weight_decay=LEARNING["weight_decay"])
    examples = task["train"]
    batch_size = LEARNING["batch_size"]
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total = steps_per_epoch * LEARNING["epochs"]
    from transformers import get_linear_schedule_with_warmup
    scheduler = get_linear_schedule_with_warmup(optimizer, LEARNING["warmup_steps"], total)
    loss_fn = InfoNCE(LEARNING["temperature"], LEARNING["false_negative_margin"])
    order_rng = random.Random(seed)
    losses, history = [], []
    started = time.time()
    for epoch in range(LEARNING["epochs"]):
        order = list(range(len(examples)))
        if shuffle:
            order_rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[start:start + batch_size]]
            queries = padded_states(model, tokenizer, [e["query"] for e in batch], TASK_INSTRUCTION)
            texts = [[e["positive"], *e["negatives"]] for e in batch]
            flat = padded_states(model, tokenizer, [t for row in texts for t in row], None)
            loss = infonce_vectorised(loss_fn, queries, flat.view(len(batch), 1 + NEGATIVES, -1), texts)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, LEARNING["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        history.append(round(ndcg_at_10(embed, task), 4))
        print(f"epoch {epoch + 1}: mean loss {sum(losses[-steps_per_epoch:]) / steps_per_epoch:.4f}, nDCG@10 {history[-1]}", file=sys.stderr)
    return {"seed": seed, "shuffle": shuffle, "ndcg_at_10_before": round(before, 4), "ndcg_at_10_after": history[-1],
            "ndcg_at_10_per_epoch": history, "steps": total, "first_loss": round(losses[0], 4),
            "last_loss": round(losses[-1], 4), "seconds": round(time.time() - started, 1)}


def synthetic_task(formatting: Formatting, summary: dict, prototype: bool) -> None:
    task = build_synthetic_task(formatting)
    summary["synthetic-task"] = {"train_examples": len(task["train"]), "corpus": len(task["corpus"]),
                                 "queries": len(task["queries"])}
    if not prototype:
        return
    runs = [learnability(formatting, task, seed, LEARNING["shuffle"]) for seed in (0, 1, 2)]
    for run in runs:
        print(json.dumps(run), file=sys.stderr)
    result = {"settings": LEARNING, "train_examples": len(task["train"]), "corpus_documents": len(task["corpus"]),
              "heldout_queries": len(task["queries"]), "runs": runs,
              "minimum_after": min(r["ndcg_at_10_after"] for r in runs),
              "maximum_before": max(r["ndcg_at_10_before"] for r in runs)}
    write_json(OUT / "synthetic-task" / "prototype.json", result)
    summary["synthetic-task"] |= {k: result[k] for k in ("minimum_after", "maximum_before")}

# --- Main -----------------------------------------------------------------------------------------------

CASES = {
    "embedding-lora": case_embedding_lora,
    "embedding-full": case_embedding_full,
    "reranker-lora": case_reranker_lora,
    "reranker-full": case_reranker_full,
    "adamw": case_adamw,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=[*CASES, "learning"], help="build only these parts")
    parser.add_argument("--skip-learning", action="store_true", help="write the synthetic task but do not run the learnability prototype")
    arguments = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    formatting = Formatting()
    summary: dict = {}
    selected = arguments.only or [*CASES, "learning"]
    for name, function in CASES.items():
        if name in selected:
            started = time.time()
            function(formatting, summary)
            print(f"{name}: done in {time.time() - started:.1f} s", file=sys.stderr)
    if "learning" in selected:
        started = time.time()
        synthetic_task(formatting, summary, prototype=not arguments.skip_learning)
        print(f"synthetic task: done in {time.time() - started:.1f} s", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"Tests/Fixtures/training: {total / 1e6:.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
