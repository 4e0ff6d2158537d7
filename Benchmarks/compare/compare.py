#!/usr/bin/env python3
"""Side-by-side CPU benchmark: qwen3-embed vs PyTorch (transformers), llama.cpp (llama-cpp-python), ONNX
Runtime and OpenVINO (peers.py).

Run through `run.sh` (it creates the private virtualenv and builds our binary). Subcommands:

  prepare   make the random-weight model (HF dir, bf16 safetensors), its GGUF F16 (gguf package) and
            Q8_0 / Q4_K_M GGUFs (our `qwen3-embed quantize`), verify them
  all       prepare + measure every engine on every workload, print/write the table
  engine    (internal) measure one peer engine on one workload in a fresh process, print one JSON object
  vectors   (internal) one engine's embeddings of the accuracy texts, as JSON

Accuracy: every engine also embeds ACCURACY_TEXTS (one text per call, the official tokenizer's ids with
the appended <|endoftext|>) and the table gives its worst cosine to PyTorch fp32: a fast wrong answer
does not count.

Every engine runs in its own process and prints the same JSON contract as `qwen3-embed bench --json`:
tokens_per_second, latency_ms_p50, latency_ms_p99, peak_rss_bytes, kernel, precision, threads.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peers import PEER_ENGINES, peer_embeddings, run_peer  # noqa: E402  (beside this file)
import peers  # noqa: E402
REPO = HERE.parent.parent
CONFIG = REPO.parent / "shared" / "reference" / "configs" / "Qwen3-Embedding-0.6B.json"
TOKENIZER = REPO.parent / "shared" / "reference" / "tokenizer" / "qwen3-embedding"
ORDINARY_VOCAB = 151_643  # ids below this are ordinary BPE tokens (same bound as `qwen3-embed bench`)
SEED = 42

# (name, batch, seq_len, timed iterations, warm-up: "full" pass or a "short" 1x16 pass)
WORKLOADS = [
    ("batch 8 × 128", 8, 128, 5, "full"),
    ("query 1 × 16", 1, 16, 10, "full"),
    ("batch 32 × 512", 32, 512, 1, "short"),  # slowest last: one timed pass after a short warm-up
    # long documents and big batches (issue 17 section 3); not in the default --workloads
    ("batch 64 × 256", 64, 256, 1, "short"),
    ("document 1 × 8192", 1, 8192, 1, "short"),
]

# Texts of several lengths and scripts for the accuracy column.
ACCURACY_TEXTS = [
    "What is the capital of France?",
    "The quick brown fox jumps over the lazy dog.",
    "Gravity is a force that attracts two bodies towards each other; it gives weight to physical objects "
    "and is responsible for the movement of planets around the sun.",
    "量子计算利用量子力学的叠加和纠缠来处理信息。",
    "Die Photosynthese wandelt Lichtenergie in chemische Energie um, die in Glucose gespeichert wird.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    " ".join(["Retrieval-augmented generation combines a search index with a language model."] * 12),
    "¿Dónde está la biblioteca más cercana? 📚",
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Inputs: the very ids `qwen3-embed bench` uses (SplitMix64, seed 42, ordinary vocabulary).
# ----------------------------------------------------------------------------------------------
def splitmix_ids(batch: int, seq_len: int, seed: int = SEED) -> list[list[int]]:
    mask = (1 << 64) - 1
    state = seed
    out = []
    for _ in range(batch):
        row = []
        for _ in range(seq_len):
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            z = z ^ (z >> 31)
            row.append(z % ORDINARY_VOCAB)
        out.append(row)
    return out


def peak_rss_bytes() -> int:
    # VmHWM (per address space) as `qwen3-embed bench` reports it; ru_maxrss would carry the parent's
    # peak across fork+exec on Linux.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def percentile(sorted_values, fraction):
    import math
    index = min(len(sorted_values) - 1, math.ceil((len(sorted_values) - 1) * fraction))
    return sorted_values[index]


def summarise(latencies_ms, tokens, kernel, precision, threads, batch, seq_len, extra=None):
    s = sorted(latencies_ms)
    p50 = statistics.median(s)
    result = {
        "tokens_per_second": round(tokens / (p50 / 1000), 3),
        "latency_ms_p50": round(p50, 3),
        "latency_ms_p99": round(percentile(s, 0.99), 3),
        "peak_rss_bytes": peak_rss_bytes(),
        "kernel": kernel,
        "precision": precision,
        "threads": threads,
        "batch": batch,
        "seq_len": seq_len,
        "runs_ms": [round(x, 3) for x in latencies_ms],
    }
    if extra:
        result.update(extra)
    return result


# ----------------------------------------------------------------------------------------------
# prepare: random model (HF dir) + GGUF F16 of the same weights
# ----------------------------------------------------------------------------------------------
def make_hf_model(model_dir: Path):
    if (model_dir / "model.safetensors").exists() and (model_dir / "config.json").exists():
        log(f"model: reusing {model_dir}")
        return
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModel

    log(f"model: creating random Qwen3-Embedding-0.6B-shaped weights in {model_dir}")
    tmp = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.manual_seed(SEED)
    config = AutoConfig.from_pretrained(str(CONFIG))
    with torch.no_grad():
        model = AutoModel.from_config(config, dtype=torch.float32)  # bare Qwen3Model: no `model.` prefix
        model.eval()
        # transformers initialises norms to 1; perturb them so the file is fully "random" but sane.
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
        state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()
                 if not k.endswith("rotary_emb.inv_freq")}
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(CONFIG, tmp / "config.json")
    for f in TOKENIZER.iterdir():
        if f.is_file():
            shutil.copy(f, tmp / f.name)
    if model_dir.exists():
        shutil.rmtree(model_dir)
    tmp.rename(model_dir)
    log(f"model: wrote {len(state)} tensors")


def make_gguf(model_dir: Path, gguf_path: Path):
    if gguf_path.exists():
        log(f"gguf: reusing {gguf_path}")
        return
    import gguf
    import numpy as np
    import torch
    from safetensors.torch import load_file

    log(f"gguf: writing F16 GGUF of the same weights to {gguf_path}")
    cfg = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    state = load_file(str(model_dir / "model.safetensors"))
    state = {k.removeprefix("model."): v for k, v in state.items()}

    arch = "qwen3"
    tmp = gguf_path.with_suffix(".partial")
    w = gguf.GGUFWriter(str(tmp), arch)
    w.add_name("qwen3-embedding-0.6b-random")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_freq_base(float(cfg["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_pooling_type(gguf.PoolingType.LAST)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    # Tokenizer: byte-level BPE, "qwen2" pre-tokenizer, as convert_hf_to_gguf.py writes for Qwen3.
    vocab_size = cfg["vocab_size"]
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [gguf.TokenType.UNUSED] * vocab_size
    for text, i in tok["model"]["vocab"].items():
        tokens[i] = text
        types[i] = gguf.TokenType.NORMAL
    for added in tok["added_tokens"]:
        tokens[added["id"]] = added["content"]
        types[added["id"]] = gguf.TokenType.CONTROL if added["special"] else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(151643)
    w.add_pad_token_id(151643)
    w.add_bos_token_id(151643)
    w.add_add_bos_token(False)
    w.add_add_eos_token(True)  # the embedding tokenizer appends <|endoftext|>

    def f16(t):
        return t.to(torch.float32).numpy().astype(np.float16)

    def f32(t):
        return t.to(torch.float32).numpy()

    w.add_tensor("token_embd.weight", f16(state["embed_tokens.weight"]))
    names = {
        "input_layernorm": ("attn_norm", f32), "post_attention_layernorm": ("ffn_norm", f32),
        "self_attn.q_proj": ("attn_q", f16), "self_attn.k_proj": ("attn_k", f16),
        "self_attn.v_proj": ("attn_v", f16), "self_attn.o_proj": ("attn_output", f16),
        "self_attn.q_norm": ("attn_q_norm", f32), "self_attn.k_norm": ("attn_k_norm", f32),
        "mlp.gate_proj": ("ffn_gate", f16), "mlp.up_proj": ("ffn_up", f16), "mlp.down_proj": ("ffn_down", f16),
    }
    for layer in range(cfg["num_hidden_layers"]):
        for hf, (gg, conv) in names.items():
            w.add_tensor(f"blk.{layer}.{gg}.weight", conv(state[f"layers.{layer}.{hf}.weight"]))
    w.add_tensor("output_norm.weight", f32(state["norm.weight"]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(gguf_path)
    log(f"gguf: wrote {gguf_path.stat().st_size / 2**30:.2f} GiB")


def verify(model_dir: Path, gguf_path: Path, threads: int):
    """llama.cpp loads the GGUF and its last-token embedding matches PyTorch's on the same ids."""
    import numpy as np
    ids = splitmix_ids(2, 24, seed=7)
    torch_emb = torch_embed(model_dir, ids, "fp32", threads)
    llm = llama_load(gguf_path, threads, n_batch=64)
    llama_emb = np.array(llama_embed_ids(llm, ids))
    cos = [float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(torch_emb, llama_emb)]
    log(f"verify: llama.cpp F16 vs PyTorch fp32 last-token embedding cosine = {[round(c, 5) for c in cos]}")
    if min(cos) < 0.99:
        raise SystemExit("verify: llama.cpp and PyTorch disagree: the GGUF does not hold the same model")
    return cos


# ----------------------------------------------------------------------------------------------
# PyTorch (transformers)
# ----------------------------------------------------------------------------------------------
_TORCH_MODELS = {}


def torch_model(model_dir: Path, precision: str, threads: int):
    import torch
    from transformers import AutoModel
    torch.set_num_threads(threads)
    key = (str(model_dir), precision)
    if key not in _TORCH_MODELS:
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        model = AutoModel.from_pretrained(str(model_dir), dtype=dtype)
        model.eval()
        _TORCH_MODELS[key] = model
    return _TORCH_MODELS[key]


def torch_embed(model_dir: Path, ids, precision: str, threads: int):
    import torch
    model = torch_model(model_dir, precision, threads)
    x = torch.tensor(ids, dtype=torch.long)
    with torch.inference_mode():
        hidden = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
        pooled = hidden[:, -1, :].float()  # last-token pooling (full-length rows, no padding)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.numpy()


def run_torch(model_dir, precision, batch, seq_len, threads, iterations, warmup):
    import torch
    ids = splitmix_ids(batch, seq_len)
    torch_model(model_dir, precision, threads)
    torch_embed(model_dir, ids if warmup == "full" else splitmix_ids(1, 16), precision, threads)
    lat = []
    for _ in range(iterations):
        t = time.perf_counter()
        torch_embed(model_dir, ids, precision, threads)
        lat.append((time.perf_counter() - t) * 1000)
    return summarise(lat, batch * seq_len, f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})",
                     precision, threads, batch, seq_len)


# ----------------------------------------------------------------------------------------------
# llama.cpp (llama-cpp-python), F16 GGUF, pooling last, token ids fed directly
# ----------------------------------------------------------------------------------------------
def llama_load(gguf_path: Path, threads: int, n_batch: int):
    import llama_cpp
    # embedding=True makes llama-cpp-python set n_seq_max = min(n_batch, max) and a unified KV cache.
    return llama_cpp.Llama(
        model_path=str(gguf_path), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST,
        n_threads=threads, n_threads_batch=threads, n_ctx=n_batch, n_batch=n_batch, n_ubatch=n_batch,
        verbose=False)


def llama_embed_ids(llm, seqs):
    """Llama.embed on given token ids instead of texts: whole sequences are packed into one decode
    until n_batch tokens are reached (exactly its batching), one pooled (last-token) vector each."""
    import llama_cpp
    import numpy as np
    ctx, n_embd, n_batch = llm._ctx.ctx, llm.n_embd(), llm.n_batch
    out = []

    def flush(count):
        llm._ctx.kv_cache_clear()
        llm._ctx.decode(llm._batch)
        llm._batch.reset()
        for seq_id in range(count):
            ptr = llama_cpp.llama_get_embeddings_seq(ctx, seq_id)
            v = np.ctypeslib.as_array(ptr, shape=(n_embd,)).copy()
            out.append(v / np.linalg.norm(v))

    llm._batch.reset()
    in_batch = tokens = 0
    for ids in seqs:
        if tokens + len(ids) > n_batch:
            flush(in_batch)
            in_batch = tokens = 0
        llm._batch.add_sequence(ids, in_batch, True)  # True: as Llama.embed (all tokens are outputs)
        in_batch += 1
        tokens += len(ids)
    flush(in_batch)
    llm._ctx.kv_cache_clear()
    return out


def llama_batch_tokens(batch: int, seq_len: int) -> int:
    """Whole workload in one decode when it fits LLAMA_MAX_BATCH (default 2048) tokens, else as many
    whole sequences as fit: llama.cpp's non-flash attention spans the whole ubatch (masked), so one
    16K-token ubatch would compute (and allocate) a 16K x 16K score matrix per head."""
    cap = int(os.environ.get("LLAMA_MAX_BATCH", "2048"))
    return max(seq_len, min(batch * seq_len, (cap // seq_len) * seq_len), 32)


def run_llama(gguf_path, batch, seq_len, threads, iterations, warmup, label="F16"):
    import llama_cpp
    ids = splitmix_ids(batch, seq_len)
    tokens = batch * seq_len
    n_batch = llama_batch_tokens(batch, seq_len)
    llm = llama_load(gguf_path, threads, n_batch)
    llama_embed_ids(llm, ids if warmup == "full" else splitmix_ids(1, 16))
    lat = []
    for _ in range(iterations):
        t = time.perf_counter()
        llama_embed_ids(llm, ids)
        lat.append((time.perf_counter() - t) * 1000)
    return summarise(lat, tokens, f"llama.cpp (llama-cpp-python {llama_cpp.__version__}, {label})", label.lower(),
                     threads, batch, seq_len, {"n_batch": n_batch, "n_ubatch": n_batch})


# ----------------------------------------------------------------------------------------------
# ours
# ----------------------------------------------------------------------------------------------
def run_ours(binary, model_dir, precision, batch, seq_len, threads, iterations):
    cmd = [binary, "bench", "--model", str(model_dir), "--batch", str(batch), "--seq-len", str(seq_len),
           "--precision", precision, "--threads", str(threads), "--iterations", str(iterations), "--json"]
    log("  $ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"qwen3-embed bench failed ({proc.returncode}): {proc.stderr[-2000:]}")
    line = [l for l in proc.stdout.splitlines() if l.strip().startswith("{")][-1]
    return json.loads(line)


def accuracy_ids(model_dir: Path) -> list[list[int]]:
    """The official tokenizer's ids of ACCURACY_TEXTS (its post-processor appends <|endoftext|>)."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    return [tokenizer.encode(text).ids for text in ACCURACY_TEXTS]


def engine_vectors(engine: str, model_dir: Path, threads: int, binary: str):
    """One engine's normalised embeddings of ACCURACY_TEXTS, one text per call (no padding anywhere)."""
    import numpy as np
    if engine.startswith("ours-"):
        kind = engine[5:]
        model = quant_path(model_dir, kind) if kind in QUANT_TYPES else model_dir
        precision = "bf16" if kind in QUANT_TYPES else kind
        lines = "".join(json.dumps({"text": t}) + "\n" for t in ACCURACY_TEXTS)
        proc = subprocess.run([binary, "embed", "--model", str(model), "--precision", precision, "--input", "-"],
                              input=lines, capture_output=True, text=True, env={**os.environ,
                                                                               "QWEN3_THREADS": str(threads)})
        if proc.returncode != 0:
            raise RuntimeError(f"qwen3-embed embed failed ({proc.returncode}): {proc.stderr[-2000:]}")
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]
        return np.array([r["embedding"] for r in sorted(rows, key=lambda r: r["index"])], dtype=np.float64)
    ids = accuracy_ids(model_dir)
    if engine.startswith("torch-"):
        return np.concatenate([torch_embed(model_dir, [row], engine.split("-")[1], threads) for row in ids])
    if engine.startswith("llama-"):
        kind = engine[6:]
        path = model_dir.with_suffix(".f16.gguf") if kind == "f16" else quant_path(model_dir, kind)
        llm = llama_load(path, threads, n_batch=max(len(r) for r in ids))
        return np.array([llama_embed_ids(llm, [row])[0] for row in ids])
    return peer_embeddings(engine, model_dir, ids, threads)


def accuracy_pass(engines, model_dir: Path, args, accuracy: dict, errors: list):
    """Worst per-text cosine of every engine's embedding to PyTorch fp32, each engine in its own process."""
    import numpy as np

    def vectors(engine):
        cmd = [sys.executable, str(Path(__file__).resolve()), "vectors", engine, "--model-dir", str(model_dir),
               "--threads", str(args.threads), "--binary", args.binary]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"vectors {engine} failed ({proc.returncode}): {proc.stderr[-3000:]}")
        return np.array(json.loads(proc.stdout.strip().splitlines()[-1]), dtype=np.float64)

    try:
        reference = vectors("torch-fp32")
    except Exception as exc:
        log(f"accuracy: no PyTorch fp32 reference: {exc}")
        errors.append({"workload": "accuracy", "engine": "torch-fp32", "error": str(exc)[-2000:]})
        return
    for engine in engines:
        try:
            got = vectors(engine)
            cos = (got * reference).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
            accuracy[engine] = {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
                                "texts": len(ACCURACY_TEXTS)}
            log(f"accuracy: {engine}: worst cosine to PyTorch fp32 {cos.min():.6f} over {len(cos)} texts")
        except Exception as exc:
            log(f"accuracy: {engine} FAILED: {exc}")
            errors.append({"workload": "accuracy", "engine": engine, "error": str(exc)[-2000:]})


def run_engine_subprocess(args_list):
    cmd = [sys.executable, str(Path(__file__).resolve()), "engine", *args_list]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args_list)} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# machine facts, table
# ----------------------------------------------------------------------------------------------
def machine_info():
    model, flags, ident = "unknown", set(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip()
            if key in ("vendor_id", "cpu family", "model", "stepping") and key not in ident:
                ident[key] = line.split(":", 1)[1].strip()
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
              "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"]
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except OSError:
            return ""
    return {
        "cpu_model": model,
        "cpu_id": ident,
        "cpu_flags": [f for f in wanted if f in flags],
        "logical_cpus": os.cpu_count(),
        "kernel": platform.release(),
        "load_average_at_start": list(os.getloadavg()),
        "commit": sh(["git", "rev-parse", "--short", "HEAD"]),
        "commit_dirty": bool(sh(["git", "status", "--porcelain", "--untracked-files=no"])),
    }


def fmt_tps(r):
    return "—" if r is None else f"{r['tokens_per_second']:,.0f}"


def fmt_ms(r):
    return "—" if r is None else f"{r['latency_ms_p50']:,.1f}"


def ratio(a, b):
    if a is None or b is None:
        return "—"
    return f"{a['tokens_per_second'] / b['tokens_per_second']:.2f}×"


ENGINES = [("ours-fp32", "ours fp32"), ("ours-bf16", "ours bf16"), ("torch-fp32", "PyTorch fp32"),
           ("torch-bf16", "PyTorch bf16"), ("llama-f16", "llama.cpp F16"),
           ("ours-q8_0", "ours Q8_0"), ("llama-q8_0", "llama.cpp Q8_0"),
           ("ours-q4_k_m", "ours Q4_K_M"), ("llama-q4_k_m", "llama.cpp Q4_K_M"),
           *PEER_ENGINES]

# Quantized GGUF files written by OUR `qwen3-embed quantize` from the same HF model; both engines run
# the very same file.
QUANT_TYPES = {"q8_0": "Q8_0", "q4_k_m": "Q4_K_M"}


def quant_path(model_dir: Path, kind: str) -> Path:
    return model_dir.with_suffix(f".{kind}.gguf")


def make_quantized(binary: str, model_dir: Path):
    for kind in QUANT_TYPES:
        path = quant_path(model_dir, kind)
        if path.exists():
            log(f"quantize: reusing {path}")
            continue
        cmd = [binary, "quantize", "--model", str(model_dir), "--type", kind, "--output", str(path)]
        log("  $ " + " ".join(cmd))
        subprocess.run(cmd, check=True)


def measured_workloads(results):
    return [name for name, *_ in WORKLOADS if name in results]


def ours_best(row):
    ours = [row.get(k) for k in ("ours-fp32", "ours-bf16") if row.get(k) is not None]
    return max(ours, key=lambda r: r["tokens_per_second"]) if ours else None


def markdown_table(results):
    """One row per engine: tokens/s and p50 of each workload, worst cosine to PyTorch fp32, and how many
    times faster our best float path (fp32 or bf16) is than that engine on each workload."""
    names = measured_workloads(results)
    accuracy = results.get("accuracy", {})
    head = ("| engine | " + " | ".join(names) + " | worst cosine to PyTorch fp32 | "
            + " | ".join(f"ours best / engine, {n}" for n in names) + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for key, label in ENGINES:
        if not any(key in results[n] for n in names) and key not in accuracy:
            continue
        cells = [f"{fmt_tps(results[n].get(key))} tok/s<br>{fmt_ms(results[n].get(key))} ms" for n in names]
        cos = accuracy.get(key)
        ratios = [ratio(ours_best(results[n]), results[n].get(key)) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'—' if cos is None else format(cos['min_cosine'], '.6f')} | "
                     + " | ".join(ratios) + " |")
    return "\n".join(lines)


def text_table(results):
    names = measured_workloads(results)
    accuracy = results.get("accuracy", {})
    lines = [f"{'engine':<24}" + "".join(f"{n:>26}" for n in names) + f"{'worst cosine':>14}"]
    for key, label in ENGINES:
        if not any(key in results[n] for n in names) and key not in accuracy:
            continue
        cells = "".join(f"{fmt_tps(results[n].get(key)) + ' t/s ' + fmt_ms(results[n].get(key)) + ' ms':>26}"
                        for n in names)
        cos = accuracy.get(key)
        lines.append(f"{label:<24}{cells}{'—' if cos is None else format(cos['min_cosine'], '.6f'):>14}")
    return "\n".join(lines)


def write_outputs(out_dir: Path, started, info, workloads, results, errors, threads, out_name=None):
    info["load_average_at_end"] = list(os.getloadavg())
    finished = _dt.datetime.now(_dt.timezone.utc)
    stamp = out_name or "results-" + started.strftime("%Y-%m-%d")
    doc = {"started": started.isoformat(), "finished": finished.isoformat(), "machine": info,
           "workloads": [{"name": w[0], "batch": w[1], "seq_len": w[2], "iterations": w[3], "warmup": w[4]}
                         for w in workloads],
           "results": results, "errors": errors}
    (out_dir / f"{stamp}.json").write_text(json.dumps(doc, indent=2) + "\n")
    md = [f"Measured {started.strftime('%Y-%m-%d %H:%M')} UTC, commit `{info['commit']}`"
          f"{' (+ uncommitted changes)' if info['commit_dirty'] else ''}, {threads} threads for every engine,",
          f"CPU: {info['cpu_model']} ({info['logical_cpus']} logical CPUs; {' '.join(info['cpu_flags'])}),",
          f"load average at start/end: {info['load_average_at_start'][0]:.2f} / {info['load_average_at_end'][0]:.2f}.",
          "Cells: tokens/s (median run) and p50 latency of one forward pass including last-token pooling.", "",
          markdown_table(results)]
    (out_dir / f"{stamp}.md").write_text("\n".join(md) + "\n")
    return md


# ----------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "all"):
        p = sub.add_parser(name)
        p.add_argument("--model-dir", default=os.environ.get("BENCH_MODEL_DIR", "/tmp/qwen3-bench-model"))
        p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "2")))
        p.add_argument("--binary", default=os.environ.get("QWEN3_BIN", str(REPO / ".build/release/qwen3-embed")))
        p.add_argument("--engines", default=os.environ.get("BENCH_ENGINES", ",".join(k for k, _ in ENGINES)),
                       help="comma-separated subset of " + ",".join(k for k, _ in ENGINES))
        p.add_argument("--workloads", default=os.environ.get("BENCH_WORKLOADS", "0,1,2"),
                       help="comma-separated indices into: " + "; ".join(w[0] for w in WORKLOADS))
        p.add_argument("--out-dir", default=str(HERE))
        p.add_argument("--max-iterations", type=int, default=int(os.environ.get("BENCH_MAX_ITERATIONS", "0")),
                       help="cap the timed passes per workload (0: the defaults above), for quick runs")
        p.add_argument("--out-name", default=None, help="output file stem (default results-<date>)")
    e = sub.add_parser("engine")
    e.add_argument("engine")
    e.add_argument("--model-dir", required=True)
    e.add_argument("--batch", type=int, required=True)
    e.add_argument("--seq-len", type=int, required=True)
    e.add_argument("--threads", type=int, required=True)
    e.add_argument("--iterations", type=int, required=True)
    e.add_argument("--warmup", default="full")
    v = sub.add_parser("vectors")
    v.add_argument("engine")
    v.add_argument("--model-dir", required=True)
    v.add_argument("--threads", type=int, required=True)
    v.add_argument("--binary", required=True)
    args = ap.parse_args()

    if args.cmd == "engine":
        model_dir = Path(args.model_dir)
        if args.engine.startswith("torch-"):
            r = run_torch(model_dir, args.engine.split("-")[1], args.batch, args.seq_len, args.threads,
                          args.iterations, args.warmup)
        elif args.engine == "llama-f16":
            r = run_llama(model_dir.with_suffix(".f16.gguf"), args.batch, args.seq_len, args.threads,
                          args.iterations, args.warmup)
        elif args.engine.startswith("llama-") and args.engine[6:] in QUANT_TYPES:
            kind = args.engine[6:]
            r = run_llama(quant_path(model_dir, kind), args.batch, args.seq_len, args.threads,
                          args.iterations, args.warmup, QUANT_TYPES[kind])
        elif args.engine in dict(PEER_ENGINES):
            r = run_peer(args.engine, model_dir, args.batch, args.seq_len, args.threads, args.iterations,
                         args.warmup, splitmix_ids, summarise)
        else:
            raise SystemExit(f"unknown engine {args.engine}")
        print(json.dumps(r))
        return
    if args.cmd == "vectors":
        print(json.dumps(engine_vectors(args.engine, Path(args.model_dir), args.threads, args.binary).tolist()))
        return

    model_dir = Path(args.model_dir)
    gguf_path = model_dir.with_suffix(".f16.gguf")
    make_hf_model(model_dir)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in dict(ENGINES)]
    if unknown:
        raise SystemExit(f"unknown engines {unknown}; known: {', '.join(k for k, _ in ENGINES)}")
    cos = None
    if any(e.startswith("llama-") for e in engines):  # llama-cpp-python is needed only for its own rows
        make_gguf(model_dir, gguf_path)
        cos = verify(model_dir, gguf_path, args.threads)
    if any(e.split("-", 1)[1] in QUANT_TYPES for e in engines):
        make_quantized(args.binary, model_dir)
    if any(e in dict(PEER_ENGINES) for e in engines):
        peers.prepare(model_dir)
    if args.cmd == "prepare":
        return

    workloads = [WORKLOADS[int(i)] for i in args.workloads.split(",")]
    if args.max_iterations > 0:
        workloads = [(n, b, l, min(it, args.max_iterations), w) for n, b, l, it, w in workloads]
    info = machine_info()
    info["threads"] = args.threads
    info["binary"] = args.binary
    try:
        info["binary_mtime"] = _dt.datetime.fromtimestamp(Path(args.binary).stat().st_mtime, _dt.timezone.utc).isoformat()
    except OSError:
        pass
    info["llama_vs_torch_cosine"] = cos
    log(f"machine: {info['cpu_model']}  flags: {' '.join(info['cpu_flags'])}  load: {info['load_average_at_start']}")
    started = _dt.datetime.now(_dt.timezone.utc)
    results: dict[str, dict] = {"accuracy": {}}
    errors = []
    accuracy_pass(engines, model_dir, args, results["accuracy"], errors)
    for name, batch, seq_len, iterations, warmup in workloads:
        results[name] = {}
        for engine in engines:
            log(f"[{time.strftime('%H:%M:%S')}] {name}: {engine} (load {os.getloadavg()[0]:.2f})")
            try:
                if engine.startswith("ours-") and engine[5:] in QUANT_TYPES:
                    # precision applies to F16/BF16 tensors only; the quantized ones run integer kernels.
                    r = run_ours(args.binary, quant_path(model_dir, engine[5:]), "bf16", batch, seq_len,
                                 args.threads, iterations)
                elif engine.startswith("ours-"):
                    r = run_ours(args.binary, model_dir, engine.split("-")[1], batch, seq_len, args.threads, iterations)
                else:
                    r = run_engine_subprocess([engine, "--model-dir", str(model_dir), "--batch", str(batch),
                                               "--seq-len", str(seq_len), "--threads", str(args.threads),
                                               "--iterations", str(iterations), "--warmup", warmup])
                r["load_average_1m"] = os.getloadavg()[0]
                results[name][engine] = r
                log(f"    {r['tokens_per_second']:,.1f} tok/s, p50 {r['latency_ms_p50']:,.1f} ms, "
                    f"kernel {r.get('kernel')}, peak RSS {r['peak_rss_bytes'] / 2**20:,.0f} MiB")
            except Exception as exc:  # keep going: one failing engine must not lose the others
                log(f"    FAILED: {exc}")
                errors.append({"workload": name, "engine": engine, "error": str(exc)[-2000:]})
            write_outputs(Path(args.out_dir), started, info, workloads, results, errors, args.threads, args.out_name)
    md = write_outputs(Path(args.out_dir), started, info, workloads, results, errors, args.threads, args.out_name)
    stamp = started.strftime("%Y-%m-%d")
    print(text_table(results))
    print()
    print("\n".join(md))
    if errors:
        print(f"\n{len(errors)} engine runs failed: see the JSON file", file=sys.stderr)


if __name__ == "__main__":
    main()
