#!/usr/bin/env python3
"""Training throughput: `qwen3-embed train` vs PyTorch + peft on the same LoRA fine-tune, in one run.

Run through `run.sh` (it reuses Benchmarks/compare's virtualenv and random model). Workload (issue 16,
section 7): Qwen3-Embedding-0.6B shapes with random weights (bf16 safetensors), LoRA r=16 alpha=32 on all
seven projections, batches of 8 queries x (1 positive + 3 hard negatives), every text exactly 128 tokens,
the paper's InfoNCE (tau 0.05, q-q, d-d and q-d in-batch terms, false-negative mask), AdamW, same threads.

Subcommands:
  prepare        the random model (Benchmarks/compare) and the training data (JSONL, our format)
  torch          (internal) one PyTorch run in a fresh process; prints one JSON object
  ours           (internal) one `qwen3-embed train` run in a fresh process; prints one JSON object
  all            prepare, then every engine and precision in its own process; table to stdout and files

Each engine reports training tokens/s over the timed steps (the first step is a warm-up and not
counted) and the peak RSS of its process (VmHWM).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "compare"))
import compare  # noqa: E402  (random model, machine facts, VmHWM)

BATCH = 8
NEGATIVES = 3
SEQ_LEN = 128
RANK, ALPHA = 16, 32
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river mountain forest "
         "city harbor bridge garden market library museum station castle valley desert island").split()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_data(path: Path, examples: int):
    """Texts far longer than 128 tokens, so truncation makes every sequence exactly SEQ_LEN tokens."""
    import random
    rng = random.Random(7)
    def text():
        return " ".join(rng.choice(WORDS) for _ in range(400))
    with path.open("w") as f:
        for _ in range(examples):
            f.write(json.dumps({"query": text(), "positive": text(),
                                "negatives": [text() for _ in range(NEGATIVES)]}) + "\n")


def info_nce(q, d, tau=0.05, margin=0.1):
    """The issue's InfoNCE: q [N, H], d [N, 1+K, H] (positive first); masks carry no gradient."""
    import torch
    import torch.nn.functional as F
    n, g, h = d.shape
    q = F.normalize(q, dim=-1)
    d = F.normalize(d, dim=-1)
    flat = d.reshape(n * g, h)
    pos = (q * d[:, 0]).sum(-1)                               # s(q_i, d_i+)
    qd = q @ flat.T                                            # [N, N*G]
    qq = q @ q.T
    dd = d[:, 0] @ flat.T
    owner = torch.arange(n * g) // g
    own = owner[None, :] == torch.arange(n)[:, None]
    limit = (pos + margin)[:, None]
    terms = [pos[:, None]]
    hard = qd.masked_select(own).view(n, g)[:, 1:]
    terms.append(hard.masked_fill((hard > limit).detach(), float("-inf")))
    eye = torch.eye(n, dtype=torch.bool)
    terms.append(qq.masked_fill(eye | (qq > limit).detach(), float("-inf")))
    terms.append(dd.masked_fill(own | (dd > limit).detach(), float("-inf")))
    terms.append(qd.masked_fill(own | (qd > limit).detach(), float("-inf")))
    logits = torch.cat(terms, dim=1) / tau
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def run_torch(model_dir: Path, data: Path, precision: str, threads: int, steps: int):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, lora_dropout=0.0))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rows = [json.loads(line) for line in data.read_text().splitlines()]

    def encode(texts):
        ids = tokenizer(texts, truncation=True, max_length=SEQ_LEN)["input_ids"]
        assert all(len(x) == SEQ_LEN for x in ids), "every text must be exactly SEQ_LEN tokens"
        return torch.tensor(ids)

    def step(batch_rows):
        queries = encode([f"Instruct: {INSTRUCTION}\nQuery:{r['query']}" for r in batch_rows])
        documents = encode([t for r in batch_rows for t in [r["positive"], *r["negatives"][:NEGATIVES]]])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            q = model(input_ids=queries).last_hidden_state[:, -1].float()
            d = model(input_ids=documents).last_hidden_state[:, -1].float()
            loss = info_nce(q, d.view(len(batch_rows), 1 + NEGATIVES, -1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad()
        return float(loss)

    times = []
    for index in range(steps + 1):
        batch_rows = [rows[(index * BATCH + i) % len(rows)] for i in range(BATCH)]
        started = time.perf_counter()
        loss = step(batch_rows)
        elapsed = time.perf_counter() - started
        log(f"  torch {precision} step {index} ({'warm-up' if index == 0 else 'timed'}): {elapsed:.1f} s, loss {loss:.4f}")
        if index > 0:
            times.append(elapsed)
    tokens = BATCH * (2 + NEGATIVES) * SEQ_LEN
    return {"engine": f"torch {torch.__version__} + peft", "precision": precision, "threads": threads,
            "tokens_per_step": tokens, "timed_steps": steps,
            "tokens_per_second": tokens * steps / sum(times), "peak_rss_bytes": compare.peak_rss_bytes()}


def run_ours(binary: str, model_dir: Path, data: Path, precision: str, threads: int, steps: int):
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "train", "--model", str(model_dir), "--data", str(data), "--output", out,
               "--method", "lora", "--lora-rank", str(RANK), "--lora-alpha", str(ALPHA),
               "--batch-size", str(BATCH), "--negatives", str(NEGATIVES), "--max-length", str(SEQ_LEN),
               "--instruction", INSTRUCTION, "--max-steps", str(steps + 1), "--learning-rate", "1e-4",
               "--precision", precision, "--threads", str(threads), "--no-shuffle", "--log-format", "json"]
        log("  $ " + " ".join(cmd))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"qwen3-embed train failed ({proc.returncode}): {stderr[-2000:]}")
        import resource
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        lines = [json.loads(l) for l in stdout.splitlines() if l.startswith("{") and '"step"' in l]
        timed = [l for l in lines if "loss" in l and l["step"] > 1]
        if not timed:
            raise RuntimeError("no timed training steps in the log")
        tokens = BATCH * (2 + NEGATIVES) * SEQ_LEN
        seconds = sum(tokens / l["tokens_per_second"] for l in timed)
        return {"engine": "qwen3-embed train", "precision": precision, "threads": threads, "tokens_per_step": tokens,
                "timed_steps": len(timed), "tokens_per_second": tokens * len(timed) / seconds, "peak_rss_bytes": peak}


def engine_subprocess(args):
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results):
    by = {(r["engine"].split()[0], r["precision"]): r for r in results}
    lines = ["| engine | precision | training tokens/s | ours ÷ torch | peak RSS |", "|---|---|---:|---:|---:|"]
    for r in results:
        peer = by.get(("torch", r["precision"]))
        ratio = f"{r['tokens_per_second'] / peer['tokens_per_second']:.2f}x" if peer and r is not peer else ""
        lines.append(f"| {r['engine']} | {r['precision']} | {r['tokens_per_second']:.1f} | {ratio} | "
                     f"{r['peak_rss_bytes'] / 2**30:.2f} GiB |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["prepare", "torch", "ours", "all"])
    parser.add_argument("--model-dir", default=os.environ.get("BENCH_MODEL_DIR", "/tmp/qwen3-bench-model"))
    parser.add_argument("--data", default=os.environ.get("BENCH_TRAIN_DATA", "/tmp/qwen3-bench-train.jsonl"))
    parser.add_argument("--binary", default=os.environ.get("QWEN3_BIN", str(REPO / ".build/release/qwen3-embed")))
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "2")))
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    model_dir, data = Path(args.model_dir), Path(args.data)
    if args.command in ("prepare", "all"):
        compare.make_hf_model(model_dir)
        make_data(data, BATCH * (args.steps + 1))
    if args.command == "torch":
        print(json.dumps(run_torch(model_dir, data, args.precision, args.threads, args.steps)))
    elif args.command == "ours":
        print(json.dumps(run_ours(args.binary, model_dir, data, args.precision, args.threads, args.steps)))
    elif args.command == "all":
        started = _dt.datetime.now(_dt.timezone.utc)
        info = compare.machine_info()
        results = []
        for precision in args.precisions.split(","):
            for engine in ("torch", "ours"):
                common = ["--model-dir", str(model_dir), "--data", str(data), "--binary", args.binary,
                          "--precision", precision, "--threads", str(args.threads), "--steps", str(args.steps)]
                log(f"== {engine} {precision}")
                results.append(engine_subprocess([engine, *common]))
        text = table(results)
        print(text)
        stamp = started.strftime("%Y-%m-%d")
        (Path(args.out) / f"results-{stamp}.json").write_text(json.dumps({"machine": info, "results": results}, indent=2))
        (Path(args.out) / f"results-{stamp}.md").write_text(
            f"# Training benchmark, {started:%Y-%m-%d %H:%M} UTC\n\nCPU: {info['cpu_model']} "
            f"({', '.join(info['cpu_flags'])}), {args.threads} threads, commit {info['commit']}\n\n{text}\n")


if __name__ == "__main__":
    main()
