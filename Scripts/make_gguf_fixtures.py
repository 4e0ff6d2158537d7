#!/usr/bin/env python3
"""GGUF files made by llama.cpp's own tools from the quantizable tiny model, and llama.cpp's outputs.

These are the files users actually download: written by llama.cpp's `convert_hf_to_gguf.py` and
quantized by llama.cpp's quantizer (`llama_model_quantize`, the code behind `llama-quantize`). Our
loader must run every one of them; the Swift tests compare our embeddings and scores on these files
with the transformers fp32 reference (Tests/Fixtures/golden/quant.json) and with llama.cpp's own
outputs on the same files (written here).

Needs the llama.cpp source tree for the converter (LLAMA_CPP_DIR; the llama-cpp-python sdist vendors
it under vendor/llama.cpp) and a virtualenv with llama-cpp-python, gguf, torch, transformers,
sentencepiece (Benchmarks/compare/run.sh makes one):

    LLAMA_CPP_DIR=.../llama.cpp /tmp/qwen3-bench-venv/bin/python Scripts/make_gguf_fixtures.py
    /tmp/qwen3-bench-venv/bin/python Scripts/make_gguf_fixtures.py --add IQ4_NL IQ4_XS   # more types only

Writes Tests/Fixtures/gguf-llama/: embedding-<TYPE>.gguf for F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS; reranker-F16.gguf and reranker-Q8_0.gguf (with llama.cpp's `cls.output`
head); llama-outputs.json (llama.cpp's pooled embeddings and rank outputs on each file).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
SOURCE = FIXTURES / "tiny-qwen3-quant"
GOLDEN = FIXTURES / "golden" / "quant.json"
OUT = FIXTURES / "gguf-llama"

# IQ4_NL and IQ4_XS need no importance matrix (the other IQ types do, and are not supported here).
EMBEDDING_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"]
RERANKER_TYPES = ["Q8_0"]


def convert(llama_dir: Path, model_dir: Path, outfile: Path, outtype: str) -> None:
    """Runs llama.cpp's converter. Its pre-tokenizer detection hashes the encoding of a probe text,
    which the cut-down 1,024-token vocabulary cannot reproduce; the tokenizer is Qwen3's (same regex,
    same byte-level BPE), so the check is answered with "qwen2", what it answers for the real one."""
    runner = f"""
import sys
sys.path.insert(0, {str(llama_dir / 'gguf-py')!r})
sys.path.insert(0, {str(llama_dir)!r})
sys.argv = ["convert_hf_to_gguf.py", {str(model_dir)!r}, "--outtype", {outtype!r}, "--outfile", {str(outfile)!r}]
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
import runpy
runpy.run_path({str(llama_dir / 'convert_hf_to_gguf.py')!r}, run_name="__main__")
"""
    subprocess.run([sys.executable, "-c", runner], check=True, stdout=subprocess.DEVNULL)


def quantize(source: Path, destination: Path, kind: str) -> None:
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(destination).encode(), ctypes.byref(params))
    if status != 0:
        raise SystemExit(f"llama_model_quantize {kind} failed with {status}")


def llama_outputs(path: Path, sequences: list[list[int]], pooling: int) -> list[list[float]]:
    """Pooled outputs of llama.cpp for token-id sequences, one decode per sequence."""
    import llama_cpp
    llm = llama_cpp.Llama(model_path=str(path), embedding=True, pooling_type=pooling, n_ctx=512, n_batch=512,
                          n_ubatch=512, n_threads=2, verbose=False)
    results = []
    for ids in sequences:
        llm._ctx.kv_cache_clear()
        llm._batch.reset()
        llm._batch.add_sequence(ids, 0, True)
        llm._ctx.decode(llm._batch)
        count = 1 if pooling != llama_cpp.LLAMA_POOLING_TYPE_RANK else max(1, llm.n_cls_out() if hasattr(llm, "n_cls_out") else 2)
        pointer = llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)
        width = llm.n_embd() if pooling != llama_cpp.LLAMA_POOLING_TYPE_RANK else count
        results.append(np.ctypeslib.as_array(pointer, shape=(width,)).astype(np.float64).tolist())
    llm.close()
    return results


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def add_types(kinds: list[str]) -> int:
    """Adds embedding files of more types, quantized by llama.cpp from the committed embedding-F16.gguf,
    and llama.cpp's outputs on them, without reconverting (the other files stay byte-identical)."""
    import llama_cpp
    golden = json.loads(GOLDEN.read_text())
    outputs = json.loads((OUT / "llama-outputs.json").read_text())
    for kind in kinds:
        path = OUT / f"embedding-{kind}.gguf"
        quantize(OUT / "embedding-F16.gguf", path, kind)
        vectors = llama_outputs(path, golden["ids"], llama_cpp.LLAMA_POOLING_TYPE_LAST)
        cosines = [cosine(v, r) for v, r in zip(vectors, golden["embeddings"])]
        outputs["files"][path.name] = {"embeddings": vectors, "min_cosine_vs_transformers": min(cosines)}
        print(f"{path.name:28s} {path.stat().st_size / 1e6:5.2f} MB  llama.cpp vs transformers fp32: "
              f"min cosine {min(cosines):.6f}")
    outputs["files"] = dict(sorted(outputs["files"].items()))
    (OUT / "llama-outputs.json").write_text(json.dumps(outputs) + "\n")
    return 0


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--add":
        return add_types(sys.argv[2:])
    llama_dir = Path(os.environ.get("LLAMA_CPP_DIR", "/tmp/bench/llama_cpp_python-0.3.36/vendor/llama.cpp"))
    if not (llama_dir / "convert_hf_to_gguf.py").exists():
        print(f"set LLAMA_CPP_DIR to a llama.cpp source tree (missing {llama_dir}/convert_hf_to_gguf.py)", file=sys.stderr)
        return 1
    import llama_cpp
    golden = json.loads(GOLDEN.read_text())
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    outputs = {"llama_cpp_python": llama_cpp.__version__, "files": {}}

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        # The embedding model as sentence-transformers ships Qwen3-Embedding: last-token pooling.
        embedding_dir = scratch / "Qwen3-Embedding-tiny"
        shutil.copytree(SOURCE, embedding_dir)
        (embedding_dir / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
        (embedding_dir / "1_Pooling").mkdir()
        (embedding_dir / "1_Pooling" / "config.json").write_text(json.dumps(
            {"word_embedding_dimension": 256, "pooling_mode_lasttoken": True, "include_prompt": True}))
        # The converter recognises a reranker by its name (as for Qwen/Qwen3-Reranker-*).
        reranker_dir = scratch / "Qwen3-Reranker-tiny"
        shutil.copytree(SOURCE, reranker_dir)

        convert(llama_dir, embedding_dir, OUT / "embedding-F16.gguf", "f16")
        convert(llama_dir, reranker_dir, OUT / "reranker-F16.gguf", "f16")
        for kind in EMBEDDING_TYPES:
            quantize(OUT / "embedding-F16.gguf", OUT / f"embedding-{kind}.gguf", kind)
        for kind in RERANKER_TYPES:
            quantize(OUT / "reranker-F16.gguf", OUT / f"reranker-{kind}.gguf", kind)

    reference = golden["embeddings"]
    for path in sorted(OUT.glob("embedding-*.gguf")):
        vectors = llama_outputs(path, golden["ids"], llama_cpp.LLAMA_POOLING_TYPE_LAST)
        cosines = [cosine(v, r) for v, r in zip(vectors, reference)]
        outputs["files"][path.name] = {"embeddings": vectors, "min_cosine_vs_transformers": min(cosines)}
        print(f"{path.name:28s} {path.stat().st_size / 1e6:5.2f} MB  llama.cpp vs transformers fp32: "
              f"min cosine {min(cosines):.6f}")
    for path in sorted(OUT.glob("reranker-*.gguf")):
        raw = llama_outputs(path, golden["rerank_ids"], llama_cpp.LLAMA_POOLING_TYPE_RANK)
        outputs["files"][path.name] = {"rank_outputs": raw}
        print(f"{path.name:28s} {path.stat().st_size / 1e6:5.2f} MB  llama.cpp rank outputs {raw[:2]} ... "
              f"(transformers scores {golden['scores'][:2]})")
    (OUT / "llama-outputs.json").write_text(json.dumps(outputs) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
