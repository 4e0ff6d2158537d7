#!/usr/bin/env python3
"""Reference results for `qwen3-embed merge` (ModelTools), computed with numpy.

Run once (outputs are committed):  /tmp/venv/fx/bin/python Scripts/make_merge_fixtures.py

The perturbed copies B and C of each tiny fixture model are derived deterministically, with integer
hashing and exact float64 arithmetic, so that the Swift tests rebuild bit-identical copies instead of
storing them (the embedding tables are large):

  noise(name, k, i) = 2 * (splitmix64(fnv1a64(name) ^ (k * 0x9E3779B97F4A7C15) + i) >> 11) * 2**-53 - 1
  copy k of tensor `name` = a * (1.5 if k == 1 else 0.75)   if "norm" in name   (parallel: SLERP falls back to lerp)
                          = a * (1 + 0.5 * n) + 0.01 * n       otherwise, n = noise(name, k, i)
  each computed in float64, rounded to float32, then to the tensor's dtype (round to nearest even).

Merges follow mergekit (merge_methods/slerp.py, linear.py) with the arithmetic in float64:
  slerp:  cos = <a,b> / (|a| |b|)  (sums correctly rounded: math.fsum)  (a norm <= 1e-8 is taken as 1); if |cos| > 0.9995: (1-t) a + t b;
          else θ = acos(cos), result = sin((1-t)θ)/sin θ · a + sin(tθ)/sin θ · b
  linear: Σ w_i x_i / Σ w_i
then float64 -> float32 -> output dtype (the first model's), round to nearest even as torch `.to()`.

Outputs in Tests/Fixtures/merge/:
  expected.json           per merge and tensor: dtype, shape, sha256 of the merged little-endian bytes,
                          whether SLERP fell back to lerp; sha256 of every tensor of the perturbed copies
  <merge>.safetensors     the full expected values of every tensor with at most 65536 elements
"""
import hashlib
import json
import math
import os

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
OUT = os.path.join(FIXTURES, "merge")
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SMALL = 65536


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def splitmix64(x):
    """Vectorised over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def noise(name, k, count):
    seed = np.uint64(fnv1a64(name) ^ ((k * GOLDEN) & MASK))
    with np.errstate(over="ignore"):
        h = splitmix64(seed + np.arange(count, dtype=np.uint64))
    u = (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return 2.0 * u - 1.0


def to_dtype(values64, dtype):
    """float64 -> float32 (RNE) -> dtype (RNE, torch)."""
    return torch.from_numpy(np.ascontiguousarray(values64.astype(np.float32))).to(dtype)


def perturbed(name, tensor, k):
    a = tensor.to(torch.float64).numpy().reshape(-1)
    if "norm" in name:
        b = a * (1.5 if k == 1 else 0.75)
    else:
        n = noise(name, k, a.size)
        b = a * (1.0 + 0.5 * n) + 0.01 * n
    return to_dtype(b, tensor.dtype).reshape(tensor.shape)


def tensor_bytes(tensor):
    if tensor.dtype == torch.bfloat16:
        return tensor.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    if tensor.dtype == torch.float16:
        return tensor.contiguous().numpy().astype("<f2").tobytes()
    return tensor.contiguous().numpy().astype("<f4").tobytes()


def sha256(tensor):
    return hashlib.sha256(tensor_bytes(tensor)).hexdigest()


def slerp(t, a, b):
    # Products of float32-representable values are exact in float64; fsum rounds their sum correctly, so
    # the angle does not depend on summation order (the Swift side uses compensated summation).
    dot = math.fsum((a * b).tolist())
    na, nb = math.sqrt(math.fsum((a * a).tolist())), math.sqrt(math.fsum((b * b).tolist()))
    na, nb = (na if na > 1e-8 else 1.0), (nb if nb > 1e-8 else 1.0)
    cos = dot / (na * nb)
    if abs(cos) > 0.9995:
        return (1 - t) * a + t * b, True
    theta0 = math.acos(cos)
    s0 = math.sin(theta0 - theta0 * t) / math.sin(theta0)
    s1 = math.sin(theta0 * t) / math.sin(theta0)
    return s0 * a + s1 * b, False


def linear(weights, tensors):
    acc = np.zeros_like(tensors[0])
    for w, x in zip(weights, tensors):
        acc = acc + w * x
    return acc / sum(weights)


def load_model(name):
    directory = os.path.join(FIXTURES, name)
    tensors = {}
    for file in sorted(os.listdir(directory)):
        if file.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(directory, file)))
    return tensors


def main():
    os.makedirs(OUT, exist_ok=True)
    models = {name: load_model(name) for name in ["tiny-qwen3-embedding", "tiny-qwen3-reranker"]}
    copies = {name: {k: {n: perturbed(n, t, k) for n, t in m.items()} for k in (1, 2)} for name, m in models.items()}
    merges = {
        "embedding-slerp-0.5": ("tiny-qwen3-embedding", ("slerp", 0.5), 2),
        "reranker-slerp-0.3": ("tiny-qwen3-reranker", ("slerp", 0.3), 2),
        "embedding-linear-1-2-3": ("tiny-qwen3-embedding", ("linear", [1.0, 2.0, 3.0]), 3),
        "reranker-linear-0.75-0.25": ("tiny-qwen3-reranker", ("linear", [0.75, 0.25]), 2),
    }
    expected = {"perturbed": {}, "merges": {}}
    for name in models:
        expected["perturbed"][name] = {str(k): {n: sha256(t) for n, t in sorted(copies[name][k].items())} for k in (1, 2)}
    for merge, (model, (method, parameter), count) in merges.items():
        inputs = [models[model], copies[model][1], copies[model][2]][:count]
        record, small = {}, {}
        for name in sorted(inputs[0]):
            original = inputs[0][name]
            values = [x[name].to(torch.float64).numpy().reshape(-1) for x in inputs]
            fallback = False
            if method == "slerp":
                merged, fallback = slerp(parameter, values[0], values[1])
            else:
                merged = linear(parameter, values)
            result = to_dtype(merged, original.dtype).reshape(original.shape)
            record[name] = {"dtype": str(original.dtype).replace("torch.", ""), "shape": list(original.shape),
                            "sha256": sha256(result), "slerp_fallback": fallback}
            if result.numel() <= SMALL:
                small[name] = result.contiguous()
        expected["merges"][merge] = {"model": model, "method": method, "parameter": parameter, "inputs": count, "tensors": record}
        save_file(small, os.path.join(OUT, merge + ".safetensors"), metadata={"format": "pt"})
        fallbacks = sum(r["slerp_fallback"] for r in record.values())
        print(f"{merge}: {len(record)} tensors, {len(small)} stored in full, {fallbacks} SLERP fallbacks")
    for file in os.listdir(OUT):
        os.chmod(os.path.join(OUT, file), 0o644)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
