#!/usr/bin/env python3
"""Checks the GGUF files `qwen3-embed quantize` writes against llama.cpp itself, and writes the goldens
the Swift tests use.

Needs a virtualenv with gguf (gguf-py), numpy and llama-cpp-python (Benchmarks/compare/run.sh makes one
at /tmp/qwen3-bench-venv):

    /tmp/qwen3-bench-venv/bin/python Scripts/check_gguf_with_llama_cpp.py [--binary PATH] [--build-path DIR]

Without --binary it runs `swift build -c release --product qwen3-embed` (in --build-path, default
.build) and uses that product.

What it does:
1. Quantizer goldens (Tests/Fixtures/gguf-written/quantizer-goldens.json): a fixed set of rows with
   awkward values (zeros, tiny and huge magnitudes, one-signed rows, ties, constant blocks), encoded by
   numpy / gguf-py (F16, BF16, Q8_0, Q4_0, Q5_0) and by ggml's own C quantizers through
   `ggml_quantize_chunk` in llama-cpp-python's libggml-base (Q4_K, Q6_K, and Q8_0/Q4_0/Q5_0 again, which
   must equal gguf-py's). The Swift tests require GGMLQuantizer to reproduce every byte.
2. For each fixture model and every --type: runs `qwen3-embed quantize`, then
   - for quantized types, has llama.cpp quantize our F32 file itself (`llama_model_quantize`, the code
     behind llama-quantize) and compares every tensor's type and bytes with ours;
   - for tiny-qwen3-quant at F16, compares metadata and tensors with the file llama.cpp's own
     convert_hf_to_gguf.py wrote (Tests/Fixtures/gguf-llama/);
   - loads our file with llama-cpp-python and embeds the golden token ids (LAST pooling) or scores the
     golden reranker prompts (RANK pooling), and compares with the transformers fp32 references in
     Tests/Fixtures/golden/ (cosine per text; P(yes) against the reference score).
3. Writes llama.cpp's outputs on our files to Tests/Fixtures/gguf-written/llama-outputs.json, so Swift
   tests can compare this engine's run of the same GGUF files with llama.cpp's.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
OUT = FIXTURES / "gguf-written"
TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q6_k"]
LLAMA_FTYPES = {"q8_0": "Q8_0", "q4_0": "Q4_0", "q4_k_m": "Q4_K_M", "q6_k": "Q6_K"}

# (label, fixture directory, --kind, golden file)
MODELS = [
    ("quant-embedding", "tiny-qwen3-quant", "embedding", "quant.json"),
    ("quant-reranker", "tiny-qwen3-quant", "reranker", "quant.json"),
    ("embedding", "tiny-qwen3-embedding", "auto", "embedding.json"),
    ("reranker", "tiny-qwen3-reranker", "auto", "reranker.json"),
]


# ----------------------------------------------------------------------------------------------------
# 1. Quantizer goldens


def ggml_library():
    import llama_cpp
    path = Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"
    lib = ctypes.CDLL(str(path))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


def ggml_quantize(lib, values: np.ndarray, qtype, row_length: int) -> bytes:
    import gguf
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    rows = values.size // row_length
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    out = np.zeros(rows * (row_length // block) * size, dtype=np.uint8)
    written = lib.ggml_quantize_chunk(int(qtype), values.ctypes.data, out.ctypes.data, 0, rows, row_length, None)
    assert written == out.size, (written, out.size)
    return out.tobytes()


def golden_rows(row_length: int = 256) -> np.ndarray:
    """Twelve rows that exercise every branch of the block quantizers."""
    rng = np.random.default_rng(20240607)
    rows = []
    rows.append(rng.normal(0, 0.02, row_length))                                   # typical weights
    outliers = rng.normal(0, 0.02, row_length)
    outliers[rng.choice(row_length, 6, replace=False)] *= 40
    rows.append(outliers)                                                            # a few outliers
    rows.append(np.concatenate([np.zeros(row_length // 2), rng.normal(0, 1e-6, row_length // 2)]))  # zeros, tiny
    rows.append(rng.uniform(0.1, 1.0, row_length))                                  # positive only
    rows.append(-rng.uniform(0.1, 1.0, row_length))                                 # negative only
    bf16 = rng.normal(0, 1, row_length).astype(np.float32)
    rows.append((bf16.view(np.uint32) & 0xFFFF0000).view(np.float32))               # bf16 values
    rows.append(rng.normal(0, 300, row_length))                                     # large magnitudes
    constant = np.full(row_length, 0.5)
    constant[32:64] = -0.25
    rows.append(constant)                                                            # constant blocks
    rows.append(rng.integers(-8, 9, row_length).astype(np.float64))                 # integers: rounding ties
    halves = rng.integers(-16, 17, row_length) / 2.0
    halves[::32] = 8.0
    rows.append(halves)                                                              # halves: ties at .5
    sparse = rng.normal(0, 0.05, row_length)
    sparse[rng.random(row_length) < 0.7] = 0
    rows.append(sparse)                                                              # mostly zeros
    rows.append(rng.standard_t(2, row_length) * 0.01)                               # heavy tails
    return np.stack(rows).astype(np.float32)


def element_cases() -> np.ndarray:
    """Single values for the F16/BF16 conversions: ties, overflow, subnormals, infinities."""
    values = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.0, 65520.0, 1e-8, 6.103515625e-05, 5.960464477539063e-08,
              2.9802322387695312e-08, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 3.4e38, -3.4e38, 1e-40, float("inf"),
              float("-inf"), 0.1, 1 / 3]
    bits = [0x3F808000, 0x3F818000, 0x3F808001, 0xBF807FFF, 0x7F7FFFFF, 0x00008000, 0x80018000]
    as_floats = np.array(values, dtype=np.float32)
    return np.concatenate([as_floats, np.array(bits, dtype=np.uint32).view(np.float32)])


def bf16_bits(values: np.ndarray) -> np.ndarray:
    import gguf
    return gguf.quants.quantize(values.reshape(1, -1), gguf.GGMLQuantizationType.BF16).view(np.uint16).reshape(-1)


def make_goldens() -> dict:
    import gguf
    Q = gguf.GGMLQuantizationType
    lib = ggml_library()
    rows = golden_rows()
    row_length = rows.shape[1]
    encoded: dict[str, bytes] = {}
    encoded["F16"] = rows.astype(np.float16).tobytes()
    encoded["BF16"] = bf16_bits(rows).tobytes()
    for name in ["Q8_0", "Q4_0", "Q5_0"]:
        python = gguf.quants.quantize(rows, Q[name]).tobytes()
        c = ggml_quantize(lib, rows, Q[name], row_length)
        assert python == c, f"gguf-py and ggml disagree on {name}"
        encoded[name] = python
    for name in ["Q4_K", "Q6_K"]:
        encoded[name] = ggml_quantize(lib, rows, Q[name], row_length)

    errors = {}
    for name, data in encoded.items():
        qtype = Q[name]
        array = np.frombuffer(data, dtype=np.uint8)
        if qtype == Q.F16:
            decoded = array.view(np.float16).astype(np.float32)
        elif qtype == Q.BF16:
            decoded = (array.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            decoded = gguf.quants.dequantize(array.reshape(rows.shape[0], -1), qtype).reshape(-1)
        difference = decoded.astype(np.float64) - rows.reshape(-1).astype(np.float64)
        # Per row, relative to the row's RMS, so the huge and tiny rows count alike.
        per_row = [float(np.sqrt(np.mean(d ** 2)) / max(np.sqrt(np.mean(r.astype(np.float64) ** 2)), 1e-30))
                   for d, r in zip(difference.reshape(rows.shape), rows)]
        errors[name] = per_row

    elements = element_cases()
    finite_f16 = elements  # no NaN here: numpy and hardware disagree on NaN payloads, which F16 weights never hold
    nan_cases = np.array([0x7FC00000, 0xFFC00001, 0x7F800001, 0xFFFFFFFF], dtype=np.uint32).view(np.float32)
    return {
        "about": "Written by Scripts/check_gguf_with_llama_cpp.py. Inputs are little-endian float32 rows (base64); "
                 "F16 = numpy astype(float16); BF16 = gguf.quants (ggml_compute_fp32_to_bf16); Q8_0/Q4_0/Q5_0 = "
                 "gguf.quants (checked equal to ggml_quantize_chunk); Q4_K/Q6_K = ggml_quantize_chunk "
                 "(quantize_row_*_ref, no imatrix) from llama-cpp-python's libggml-base. relative_rms_error: "
                 "per row, RMS(dequantized - input) / RMS(input), dequantized with gguf.quants.",
        "llama_cpp_python": __import__("llama_cpp").__version__,
        "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "unknown",
        "row_length": row_length,
        "rows": rows.shape[0],
        "input": base64.b64encode(rows.tobytes()).decode(),
        "encoded": {name: base64.b64encode(data).decode() for name, data in encoded.items()},
        "relative_rms_error": errors,
        "elements": {
            "input_bits": [int(b) for b in finite_f16.view(np.uint32)],
            "f16_bits": [int(b) for b in finite_f16.astype(np.float16).view(np.uint16)],
            "bf16_bits": [int(b) for b in bf16_bits(finite_f16)],
            "nan_input_bits": [int(b) for b in nan_cases.view(np.uint32)],
            "nan_bf16_bits": [int(b) for b in bf16_bits(nan_cases)],
        },
    }


# ----------------------------------------------------------------------------------------------------
# 2. Our files against llama.cpp


def build_binary(build_path: str) -> Path:
    subprocess.run(["swift", "build", "-c", "release", "--product", "qwen3-embed", "--build-path", build_path],
                   cwd=ROOT, check=True)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--build-path", build_path, "--show-bin-path"],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return Path(bin_dir) / "qwen3-embed"


def quantize_with_ours(binary: Path, model_dir: Path, kind: str, qtype: str, output: Path) -> tuple[dict, float]:
    started = time.perf_counter()
    result = subprocess.run([str(binary), "quantize", "--model", str(model_dir), "--type", qtype, "--kind", kind,
                             "--output", str(output)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"qwen3-embed quantize failed: {result.stderr.strip()}")
    return json.loads(result.stdout), elapsed


def quantize_with_llama(source: Path, destination: Path, ftype: str) -> None:
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(destination).encode(), ctypes.byref(params))
    if status != 0:
        raise SystemExit(f"llama_model_quantize {ftype} failed with {status}")


def read_gguf(path: Path):
    import gguf
    reader = gguf.GGUFReader(str(path))
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        types = field.types
        if types[0] == gguf.GGUFValueType.ARRAY:
            if types[-1] == gguf.GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode() for i in field.data]
            else:
                value = [field.parts[i].tolist() for i in field.data]
            metadata[key] = (types[-1].name, value)
        elif types[0] == gguf.GGUFValueType.STRING:
            metadata[key] = ("STRING", bytes(field.parts[-1]).decode())
        else:
            metadata[key] = (types[0].name, field.parts[-1].tolist())
    tensors = {t.name: (t.tensor_type.name, [int(d) for d in t.shape], bytes(t.data.tobytes())) for t in reader.tensors}
    return metadata, tensors


def compare_files(ours: Path, theirs: Path, ignore_keys=("general.name",)) -> dict:
    ours_meta, ours_tensors = read_gguf(ours)
    their_meta, their_tensors = read_gguf(theirs)
    metadata_differences = sorted(k for k in set(ours_meta) | set(their_meta)
                                  if k not in ignore_keys and ours_meta.get(k) != their_meta.get(k))
    identical = sum(1 for name, t in ours_tensors.items() if their_tensors.get(name) == t)
    differing = sorted(name for name, t in ours_tensors.items() if their_tensors.get(name) != t)
    differing += sorted(name for name in their_tensors if name not in ours_tensors)
    return {"identical_tensors": identical, "tensors": len(their_tensors), "differing_tensors": differing,
            "metadata_differences": metadata_differences}


def llama_outputs(path: Path, sequences: list[list[int]], rank: bool) -> list[list[float]]:
    """Pooled outputs of llama.cpp for token-id sequences, one decode per sequence."""
    import llama_cpp
    pooling = llama_cpp.LLAMA_POOLING_TYPE_RANK if rank else llama_cpp.LLAMA_POOLING_TYPE_LAST
    llm = llama_cpp.Llama(model_path=str(path), embedding=True, pooling_type=pooling, n_ctx=512, n_batch=512,
                          n_ubatch=512, n_threads=2, verbose=False)
    width = llama_cpp.llama_model_n_cls_out(llm._model.model) if rank else llm.n_embd()
    results = []
    for ids in sequences:
        llm._ctx.kv_cache_clear()
        llm._batch.reset()
        llm._batch.add_sequence(ids, 0, True)
        llm._ctx.decode(llm._batch)
        pointer = llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)
        results.append(np.ctypeslib.as_array(pointer, shape=(width,)).astype(np.float64).tolist())
    llm.close()
    return results


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def golden_inputs(golden_file: str, rerank: bool):
    """(token id sequences, reference embeddings or scores) from a golden file."""
    golden = json.loads((FIXTURES / "golden" / golden_file).read_text())
    if golden_file == "quant.json":
        return (golden["rerank_ids"], golden["scores"]) if rerank else (golden["ids"], golden["embeddings"])
    if rerank:
        ids, scores = [], []
        for case in golden["cases"]:
            ids += case["ids"]
            scores += case["scores"]
        return ids, scores
    ids, vectors = [], []
    for case in golden["cases"]:
        if case["dimensions"] is None and case["name"] in ("documents", "queries"):
            ids += case["ids"]
            vectors += case["embeddings"]
    return ids, vectors


def check_deep_mix(binary: Path, scratch: Path) -> dict:
    """The Q4_K_M mix of a 28-layer model (Qwen3-0.6B's depth), where llama.cpp's counters matter: it
    walks tensors in name order (blk.0, blk.1, blk.10 ... blk.19, blk.2, ...), so "use more bits" picks
    layers by that order. Random weights at tiny-qwen3-quant's width, its tokenizer."""
    from safetensors.numpy import save_file
    source = FIXTURES / "tiny-qwen3-quant"
    model_dir = scratch / "deep-qwen3"
    model_dir.mkdir()
    config = json.loads((source / "config.json").read_text())
    config.update(num_hidden_layers=28, intermediate_size=256, layer_types=["full_attention"] * 28)
    (model_dir / "config.json").write_text(json.dumps(config))
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        (model_dir / name).write_bytes((source / name).read_bytes())
    rng = np.random.default_rng(28)
    hidden, heads, kv, head_dim, ff, vocab = 256, 4, 2, 64, 256, config["vocab_size"]
    tensors = {"model.embed_tokens.weight": rng.normal(0, 0.02, (vocab, hidden)),
               "lm_head.weight": rng.normal(0, 0.02, (vocab, hidden)), "model.norm.weight": np.ones(hidden)}
    for layer in range(28):
        prefix = f"model.layers.{layer}."
        tensors.update({
            prefix + "input_layernorm.weight": np.ones(hidden), prefix + "post_attention_layernorm.weight": np.ones(hidden),
            prefix + "self_attn.q_norm.weight": np.ones(head_dim), prefix + "self_attn.k_norm.weight": np.ones(head_dim),
            prefix + "self_attn.q_proj.weight": rng.normal(0, 0.02, (heads * head_dim, hidden)),
            prefix + "self_attn.k_proj.weight": rng.normal(0, 0.02, (kv * head_dim, hidden)),
            prefix + "self_attn.v_proj.weight": rng.normal(0, 0.02, (kv * head_dim, hidden)),
            prefix + "self_attn.o_proj.weight": rng.normal(0, 0.02, (hidden, heads * head_dim)),
            prefix + "mlp.gate_proj.weight": rng.normal(0, 0.02, (ff, hidden)),
            prefix + "mlp.up_proj.weight": rng.normal(0, 0.02, (ff, hidden)),
            prefix + "mlp.down_proj.weight": rng.normal(0, 0.02, (hidden, ff)),
        })
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(model_dir / "model.safetensors"))
    ours = scratch / "deep-q4_k_m.gguf"
    quantize_with_ours(binary, model_dir, "embedding", "f32", scratch / "deep-f32.gguf")
    quantize_with_ours(binary, model_dir, "embedding", "q4_k_m", ours)
    theirs = scratch / "deep-q4_k_m-llama.gguf"
    quantize_with_llama(scratch / "deep-f32.gguf", theirs, "Q4_K_M")
    comparison = compare_files(ours, theirs)
    _, tensors_out = read_gguf(theirs)
    for kind in ["attn_v", "ffn_down"]:
        comparison[f"{kind}_q6_k_layers"] = sorted(int(name.split(".")[1]) for name, (qtype, _, _) in tensors_out.items()
                                                  if f".{kind}." in name and qtype == "Q6_K")
    return comparison


def rounded(values, digits=7):
    return [[float(f"{v:.{digits}g}") for v in row] for row in values]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", help="a built qwen3-embed (default: swift build -c release)")
    parser.add_argument("--build-path", default=".build", help="SwiftPM build directory for the release build")
    parser.add_argument("--goldens-only", action="store_true", help="only write quantizer-goldens.json")
    args = parser.parse_args()

    import llama_cpp
    OUT.mkdir(parents=True, exist_ok=True)
    goldens = make_goldens()
    (OUT / "quantizer-goldens.json").write_text(json.dumps(goldens, indent=1) + "\n")
    print("quantizer goldens: relative RMS error (median over rows) " + ", ".join(
        f"{name} {np.median(values):.2e}" for name, values in goldens["relative_rms_error"].items()))
    if args.goldens_only:
        return 0

    binary = Path(args.binary) if args.binary else build_binary(args.build_path)
    report = {"llama_cpp_python": llama_cpp.__version__,
              "about": "llama.cpp (llama-cpp-python) outputs on GGUF files written by `qwen3-embed quantize`, "
                       "for the golden token ids of Tests/Fixtures/golden (embeddings: LAST pooling, raw; "
                       "rerankers: RANK pooling, [P(yes), P(no)]). Written by Scripts/check_gguf_with_llama_cpp.py.",
              "files": {}}
    failures = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for label, fixture, kind, golden_file in MODELS:
            model_dir = FIXTURES / fixture
            rerank = label.endswith("reranker")
            ids, reference = golden_inputs(golden_file, rerank)
            for qtype in TYPES:
                path = scratch / f"{label}-{qtype}.gguf"
                summary, seconds = quantize_with_ours(binary, model_dir, kind, qtype, path)
                entry = {"type": qtype, "bytes": path.stat().st_size, "tensor_types": summary["tensor_types"],
                         "fallbacks": len(summary["fallbacks"]), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                         "quantize_seconds": round(seconds, 3)}
                if qtype in LLAMA_FTYPES:
                    theirs = scratch / f"{label}-{qtype}-llama.gguf"
                    quantize_with_llama(scratch / f"{label}-f32.gguf", theirs, LLAMA_FTYPES[qtype])
                    # llama-quantize re-appends general.file_type and quantization_version: order differs, values not.
                    comparison = compare_files(path, theirs)
                    entry["vs_llama_quantize"] = comparison
                    if comparison["differing_tensors"] or comparison["metadata_differences"]:
                        failures.append(f"{label} {qtype}: differs from llama_model_quantize: {comparison}")
                if fixture == "tiny-qwen3-quant" and qtype == "f16":
                    theirs = FIXTURES / "gguf-llama" / ("reranker-F16.gguf" if rerank else "embedding-F16.gguf")
                    comparison = compare_files(path, theirs)
                    entry["vs_convert_hf_to_gguf"] = comparison
                    if comparison["differing_tensors"] or comparison["metadata_differences"]:
                        failures.append(f"{label} f16: differs from convert_hf_to_gguf.py: {comparison}")
                outputs = llama_outputs(path, ids, rerank)
                if rerank:
                    errors = [abs(o[0] - s) for o, s in zip(outputs, reference)]
                    entry["rank_outputs"] = rounded(outputs)
                    entry["max_score_error_vs_transformers"] = max(errors)
                    line = f"max |P(yes) - transformers score| {max(errors):.2e}"
                else:
                    cosines = [cosine(o, r) for o, r in zip(outputs, reference)]
                    entry["embeddings"] = rounded(outputs)
                    entry["cosines_vs_transformers"] = [round(c, 7) for c in cosines]
                    entry["min_cosine_vs_transformers"] = min(cosines)
                    line = f"cosine vs transformers fp32: min {min(cosines):.6f} mean {np.mean(cosines):.6f}"
                exact = entry.get("vs_llama_quantize")
                exact_text = f"  llama-quantize bytes: {exact['identical_tensors']}/{exact['tensors']} tensors identical" if exact else ""
                print(f"{label:16s} {qtype:7s} {entry['bytes'] / 1e6:6.2f} MB {seconds:6.2f} s  {line}{exact_text}")
                report["files"][f"{label}-{qtype}"] = entry

        deep = check_deep_mix(binary, scratch)
        report["deep_q4_k_m_mix"] = deep
        print(f"28-layer Q4_K_M mix: {deep['identical_tensors']}/{deep['tensors']} tensors identical to llama-quantize; "
              f"Q6_K attn_v layers {deep['attn_v_q6_k_layers']}, ffn_down layers {deep['ffn_down_q6_k_layers']}")
        if deep["differing_tensors"] or deep["metadata_differences"]:
            failures.append(f"28-layer Q4_K_M differs from llama_model_quantize: {deep}")

    (OUT / "llama-outputs.json").write_text(json.dumps(report) + "\n")
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
