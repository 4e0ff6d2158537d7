#!/usr/bin/env python3
"""End-to-end server benchmark: the same corpus embedded over HTTP by every server (issue 17, section 4).

Starts one server at a time (ours `qwen3-embed serve`, infinity-emb, or any OpenAI-compatible command given
with --server-command), waits until it answers, then embeds the first --texts passages of the MS MARCO
subset (../shared/data/msmarco-subset/corpus.jsonl) and all of its queries through POST /v1/embeddings with
--concurrency requests in flight of --batch texts each (documents as they are: no instruction, as an
OpenAI client sends them). Reports texts/s over the whole run, p50/p99 request latency, the server's peak
RSS (VmHWM of its process tree), and the cosine of every vector to a reference run (ours fp32 by default).

Subcommands:
  run    --name NAME --server-command '...{port}...' [--reference FILE.npy] [--save FILE.npy]
         one server; appends one JSON line to --results
  table  --results FILE  prints the markdown table of every recorded server
"""
from __future__ import annotations

import argparse
import concurrent.futures as futures
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent.parent / "shared" / "data" / "msmarco-subset"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def load_texts(count: int) -> list[str]:
    passages = []
    with open(DATA / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            passages.append(json.loads(line)["text"])
            if len(passages) == count:
                break
    with open(DATA / "queries.jsonl", encoding="utf-8") as f:
        queries = [json.loads(line)["text"] for line in f if line.strip()]
    return passages + queries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_pids(root: int) -> list[int]:
    pids, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            pids.append(child)
            frontier.append(child)
    return pids


def peak_rss(root: int) -> int:
    """Sum of VmHWM over the server's process tree (a Python server may fork workers)."""
    total = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def post(url: str, body: dict, timeout: float = 600.0):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_ready(url: str, model: str, process: subprocess.Popen, timeout: float):
    """The server is ready when it embeds one text (health routes differ between servers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            post(url, {"model": model, "input": ["ready?"]}, timeout=30)
            return
        except urllib.error.HTTPError as error:
            if error.code < 500:  # listening, but this request will never succeed (wrong route or body)
                raise RuntimeError(f"server answered {error.code}: {error.read()[:500]!r}") from error
            time.sleep(0.5)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer within {timeout:.0f} s")


def run(args):
    import numpy as np
    texts = load_texts(args.texts)
    port = free_port()
    command = args.server_command.format(port=port)
    log(f"[{args.name}] $ {command}")
    server = subprocess.Popen(shlex.split(command), stdout=subprocess.DEVNULL,
                              stderr=open(args.server_log or os.devnull, "w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1/embeddings"
    try:
        started_loading = time.perf_counter()
        wait_ready(url, args.model_name, server, args.ready_timeout)
        ready_seconds = time.perf_counter() - started_loading
        batches = [(i, texts[i:i + args.batch]) for i in range(0, len(texts), args.batch)]
        vectors: list = [None] * len(texts)
        latencies = []

        def send(item):
            start, chunk = item
            t = time.perf_counter()
            answer = post(url, {"model": args.model_name, "input": chunk, "encoding_format": "float"})
            elapsed = (time.perf_counter() - t) * 1000
            rows = sorted(answer["data"], key=lambda d: d["index"])
            if len(rows) != len(chunk):
                raise RuntimeError(f"{len(rows)} vectors for {len(chunk)} texts")
            return start, [r["embedding"] for r in rows], elapsed

        t0 = time.perf_counter()
        with futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            for start, rows, elapsed in pool.map(send, batches):
                latencies.append(elapsed)
                for offset, row in enumerate(rows):
                    vectors[start + offset] = row
        wall = time.perf_counter() - t0
        rss = peak_rss(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    matrix = np.array(vectors, dtype=np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    if args.save:
        np.save(args.save, matrix)
    result = {"name": args.name, "command": command, "texts": len(texts), "batch": args.batch,
              "concurrency": args.concurrency, "seconds": round(wall, 3),
              "texts_per_second": round(len(texts) / wall, 3),
              "latency_ms_p50": round(statistics.median(latencies), 1),
              "latency_ms_p99": round(sorted(latencies)[min(len(latencies) - 1, int(0.99 * (len(latencies) - 1) + 0.999))], 1),
              "peak_rss_bytes": rss, "ready_seconds": round(ready_seconds, 2),
              "load_average_1m": os.getloadavg()[0]}
    if args.reference and Path(args.reference).exists():
        reference = np.load(args.reference)
        cos = (matrix * reference).sum(1)
        result.update({"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())})
    log(json.dumps(result))
    with open(args.results, "a") as f:
        f.write(json.dumps(result) + "\n")


def table(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    print("| server | texts/s | p50 ms | p99 ms | peak RSS | worst / mean cosine to ours fp32 | ready after |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cos = f"{r['min_cosine']:.6f} / {r['mean_cosine']:.6f}" if "min_cosine" in r else "(reference)"
        print(f"| {r['name']} | {r['texts_per_second']:,.1f} | {r['latency_ms_p50']:,.0f} | {r['latency_ms_p99']:,.0f}"
              f" | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | {cos} | {r['ready_seconds']:.1f} s |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--server-command", required=True, help="command line; {port} is replaced by a free port")
    r.add_argument("--model-name", default="model", help="the `model` field sent with each request")
    r.add_argument("--texts", type=int, default=2000, help="passages (all queries are added)")
    r.add_argument("--batch", type=int, default=32)
    r.add_argument("--concurrency", type=int, default=16)
    r.add_argument("--reference", help=".npy of reference vectors (row order = texts) for the cosine column")
    r.add_argument("--save", help="write this run's normalised vectors to a .npy")
    r.add_argument("--results", required=True, help="JSON Lines file the result is appended to")
    r.add_argument("--ready-timeout", type=float, default=900.0)
    r.add_argument("--server-log")
    t = sub.add_parser("table")
    t.add_argument("--results", required=True)
    args = ap.parse_args()
    run(args) if args.cmd == "run" else table(args)


if __name__ == "__main__":
    main()
