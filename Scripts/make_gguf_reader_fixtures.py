#!/usr/bin/env python3
"""Reference data for the Swift GGUF reader (Sources/ModelFormats/GGUF) and the GGUF tokenizer.

Everything here comes from the gguf Python package, the reference implementation of the format that
llama.cpp ships: its `gguf.quants.dequantize` gives the expected floats, its `GGUFWriter` writes the
files, its `GGUFReader` reads back what the Swift reader must see, and its `SpecialVocab` extracts the
tokenizer metadata exactly as llama.cpp's `convert_hf_to_gguf.py` does.

Pinned versions (the ones used to write the committed fixtures):

    gguf==0.19.0  numpy==2.4.6  transformers==5.23.0  tokenizers==0.23.3

Run with the benchmark virtualenv, which has them:

    /tmp/qwen3-bench-venv/bin/python Scripts/make_gguf_reader_fixtures.py [--converter-vocab FILE]

Writes Tests/Fixtures/gguf/:

* dequant-goldens.json — for every type the Swift reader supports (F32, F16, BF16, Q4_0, Q4_1, Q5_0,
  Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS): raw blocks and the float32 bit patterns
  `gguf.quants.dequantize` returns. Block bytes are random except the f16 scale fields, which hold
  finite values of realistic magnitude, plus edge-case blocks (zero, -0, negative, largest and
  subnormal scales; all-zero and all-one code bytes). For F16 and BF16 also every one of the 65 536 bit
  patterns, summarised by a position-weighted checksum (see `checksum`).
* valid-v3.gguf / valid-v2.gguf / valid-expected.json — a small file written by GGUFWriter with a
  64-byte alignment, metadata of every value type (nested, empty and unicode included) and tensors of
  several types (F32, F16, BF16, Q8_0, Q4_K, Q6_K, IQ2_XXS; 1-D to 4-D). The v2 file is the same bytes
  with version 2: v2 and v3 share the layout (64-bit counts); only v1 used 32-bit counts.
* qwen3-embedding-tokenizer.gguf — a tensor-free GGUF holding the tokenizer metadata
  `convert_hf_to_gguf.py` writes for Qwen3-Embedding-0.6B (from ../shared/reference/tokenizer).
  With --converter-vocab FILE (the output of `convert_hf_to_gguf.py --vocab-only` on that model), the
  tokenizer keys are checked to be identical to the converter's.
* llama-files.json — for each Tests/Fixtures/gguf-llama/*.gguf file (written by llama.cpp's own
  converter and quantizer): every tensor's type, dimensions, absolute offset and the checksum of
  `gguf.quants.dequantize` of its data.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "gguf"
LLAMA_FILES = ROOT / "Tests" / "Fixtures" / "gguf-llama"
TOKENIZER_DIR = ROOT.parent / "shared" / "reference" / "tokenizer" / "qwen3-embedding"

SUPPORTED = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]

# Byte offsets of the f16 scale fields in each block (d first, then dmin / m where the type has one).
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0],
}

# Non-linear 4-bit types, supported later: their goldens come from a generator of their own, so the
# entries above (and every other fixture this script writes) stay byte-identical.
NONLINEAR = [T.IQ4_NL, T.IQ4_XS]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def checksum(values: np.ndarray) -> str:
    """sum((i + 1) * bits[i]) mod 2^64 over the float32 bit patterns: order-sensitive, catches any
    changed bit, and cheap to recompute in Swift (wrapping arithmetic). Returned as a decimal string
    because JSON numbers lose precision above 2^53."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64).ravel()
    weights = np.arange(1, bits.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return str(int(np.sum(bits * weights, dtype=np.uint64)))


def f16_bits(value: float) -> bytes:
    return np.array([value], dtype=np.float16).tobytes()


def dequantize(raw: np.ndarray, qtype: T) -> np.ndarray:
    out = gguf.quants.dequantize(raw, qtype)
    assert out.dtype == np.float32
    return out


# MARK: dequantization goldens

def quantized_blocks(qtype: T, rng: np.random.Generator) -> bytes:
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    random_blocks = 40 if block_size == 32 else 16
    blocks: list[bytearray] = []

    def block(fill: bytes | None = None) -> bytearray:
        return bytearray(fill if fill is not None else rng.integers(0, 256, type_size, dtype=np.uint8).tobytes())

    # Random code bytes with log-uniform scales of both signs (realistic: 1e-5 .. 1e-1).
    for _ in range(random_blocks):
        data = block()
        for field in SCALE_FIELDS[qtype]:
            magnitude = 10 ** rng.uniform(-5, -1)
            sign = -1 if rng.random() < 0.25 else 1
            data[field:field + 2] = f16_bits(sign * magnitude)
        blocks.append(data)
    # Edge cases: each scale field set to one special value, with random codes, all-zero codes and
    # all-one codes (for the k-quants this also makes every packed sub-block scale 0 or its maximum).
    specials = [0.0, -0.0, -0.0123, 65504.0, -65504.0, 2 ** -24, -(2 ** -24), 2 ** -14, 1.0]
    for special in specials:
        for fill in (None, bytes(type_size), b"\xff" * type_size):
            data = block(fill)
            for index, field in enumerate(SCALE_FIELDS[qtype]):
                # The second field (dmin / m) gets a different value so d and dmin are not confused.
                value = special if index == 0 else (0.5 * special if special not in (0.0, -0.0) else 0.031)
                data[field:field + 2] = f16_bits(value)
            blocks.append(data)
    return b"".join(bytes(b) for b in blocks)


def half_patterns(rng: np.random.Generator) -> np.ndarray:
    special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
               0x7C00, 0xFC00, 0x7C01, 0xFC01, 0x7D55, 0x7E00, 0xFE00, 0x7FFF, 0xFFFF, 0x3555, 0x0200, 0x7F80,
               0xFF80, 0x7F81, 0x7FC0, 0xFFC1, 0x0080, 0x007F, 0x3F80, 0xC000, 0x4049]
    randoms = rng.integers(0, 65536, 991, dtype=np.uint16)
    return np.concatenate([np.array(special, dtype=np.uint16), randoms])


def goldens() -> list[dict]:
    rng = np.random.default_rng(20250611)
    entries = []
    for qtype in SUPPORTED:
        if qtype == T.F32:
            floats = np.concatenate([
                np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, 3.4028235e38, 1e-45, -1e-45, 1.17549435e-38],
                         dtype=np.float32),
                rng.standard_normal(54).astype(np.float32)])
            raw = floats.tobytes() + np.array([0x7FC00000, 0xFFC00001, 0x7F800001, 0x7FBFFFFF], dtype=np.uint32).tobytes()
        elif qtype in (T.F16, T.BF16):
            raw = half_patterns(rng).tobytes()
        else:
            raw = quantized_blocks(qtype, rng)
        data = np.frombuffer(raw, dtype=np.uint8)
        if qtype == T.F32:
            expected = data.view(np.float32)
        else:
            # dequantize() wants a 2-D array of rows for the quantized types; one row per block.
            block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
            expected = dequantize(data.reshape(-1, type_size), qtype).ravel()
        entry = {
            "type": qtype.name,
            "count": int(expected.size),
            "raw": b64(raw),
            "expected": b64(expected.astype(np.float32).tobytes()),
        }
        if qtype in (T.F16, T.BF16):
            every = np.arange(65536, dtype=np.uint16).view(np.uint8)
            entry["all_patterns_checksum"] = checksum(dequantize(every.reshape(1, -1), qtype))
        entries.append(entry)
        print(f"golden {qtype.name}: {entry['count']} values")
    nonlinear_rng = np.random.default_rng(20261123)
    for qtype in NONLINEAR:
        raw = quantized_blocks(qtype, nonlinear_rng)
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        expected = dequantize(np.frombuffer(raw, dtype=np.uint8).reshape(-1, type_size), qtype).ravel()
        entries.append({"type": qtype.name, "count": int(expected.size), "raw": b64(raw),
                        "expected": b64(expected.astype(np.float32).tobytes())})
        print(f"golden {qtype.name}: {expected.size} values")
    return entries


# MARK: the valid file

class Writer(gguf.GGUFWriter):
    """GGUFWriter refuses empty arrays ("Invalid GGUF metadata array. Empty array"), though the format
    and llama.cpp's reader allow them; this writes them as element type + count 0 (element type
    `sub_type`, or UINT8 for an empty array nested in another, since GGUFWriter's recursion passes
    none) and defers everything else."""

    def _pack_val(self, val, vtype, add_vtype, sub_type=None):  # noqa: ANN001
        if vtype == V.ARRAY and isinstance(val, list) and len(val) == 0:
            prefix = self._pack("I", vtype) if add_vtype else b""
            return prefix + self._pack("I", sub_type if sub_type is not None else V.UINT8) + self._pack("Q", 0)
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def typed(value_type: V, value, sub_type: V | None = None) -> dict:
    """The expected value in the JSON form the Swift test decodes: {"t": type, "v": value}; float bits
    as integers (exact, NaN included), 64-bit integers as strings."""
    if value_type == V.ARRAY:
        element = sub_type if sub_type is not None else (gguf.GGUFValueType.get_type(value[0]) if value else V.UINT8)
        return {"t": int(V.ARRAY), "e": int(element), "v": [typed(element, item) for item in value]}
    if value_type == V.FLOAT32:
        return {"t": int(value_type), "v": struct.unpack("<I", struct.pack("<f", value))[0]}
    if value_type == V.FLOAT64:
        return {"t": int(value_type), "v": str(struct.unpack("<Q", struct.pack("<d", value))[0])}
    if value_type in (V.UINT64, V.INT64):
        return {"t": int(value_type), "v": str(value)}
    return {"t": int(value_type), "v": value}


def metadata_entries() -> list[tuple[str, V, object, V | None]]:
    """(key, type, value, array element type) in file order."""
    return [
        ("test.uint8", V.UINT8, 200, None),
        ("test.int8", V.INT8, -100, None),
        ("test.uint16", V.UINT16, 60000, None),
        ("test.int16", V.INT16, -30000, None),
        ("test.uint32", V.UINT32, 4_000_000_000, None),
        ("test.int32", V.INT32, -2_000_000_000, None),
        ("test.float32", V.FLOAT32, 3.1415927, None),
        ("test.float32.negative_zero", V.FLOAT32, -0.0, None),
        ("test.float32.infinity", V.FLOAT32, float("inf"), None),
        ("test.float32.nan", V.FLOAT32, float("nan"), None),
        ("test.bool.true", V.BOOL, True, None),
        ("test.bool.false", V.BOOL, False, None),
        ("test.string", V.STRING, "héllo wörld 🚀 日本語 \u0000 Ġ", None),
        ("test.string.empty", V.STRING, "", None),
        ("test.uint64.max", V.UINT64, 2 ** 64 - 1, None),
        ("test.uint64.small", V.UINT64, 42, None),
        ("test.int64.min", V.INT64, -(2 ** 63), None),
        ("test.float64", V.FLOAT64, 1.0000000000000002e300, None),
        ("test.float64.subnormal", V.FLOAT64, 5e-324, None),
        ("ünïcödé.kéy.🔑", V.STRING, "value", None),
        ("test.array.uint8", V.ARRAY, [0, 1, 255], V.UINT8),
        ("test.array.int8", V.ARRAY, [-128, 0, 127], V.INT8),
        ("test.array.uint16", V.ARRAY, [0, 65535], V.UINT16),
        ("test.array.int16", V.ARRAY, [-32768, 32767], V.INT16),
        ("test.array.uint32", V.ARRAY, [0, 4294967295], V.UINT32),
        ("test.array.int32", V.ARRAY, [1, -2, 3], V.INT32),
        ("test.array.float32", V.ARRAY, [0.5, -1.25, 1e-45], V.FLOAT32),
        ("test.array.bool", V.ARRAY, [True, False, True], V.BOOL),
        ("test.array.string", V.ARRAY, ["a", "", "ß", "🚀🚀"], V.STRING),
        ("test.array.uint64", V.ARRAY, [0, 2 ** 64 - 1], V.UINT64),
        ("test.array.int64", V.ARRAY, [-(2 ** 63), 2 ** 63 - 1], V.INT64),
        ("test.array.float64", V.ARRAY, [2.5, -1e-300], V.FLOAT64),
        ("test.array.nested", V.ARRAY, [[1, 2, 3], [4], [5, 6]], None),
        ("test.array.nested.strings", V.ARRAY, [["x"], ["y", "z"]], None),
        ("test.array.nested.deep", V.ARRAY, [[[7]], [[8, 9]]], None),
        ("test.array.nested.empty", V.ARRAY, [[], [1]], None),
        ("test.array.empty.int32", V.ARRAY, [], V.INT32),
        ("test.array.empty.string", V.ARRAY, [], V.STRING),
    ]


def typed_nested(value, sub_type: V | None) -> dict:
    """Like typed() for arrays whose inner element types follow GGUFWriter's rules (get_type)."""
    if not isinstance(value, list):
        return typed(gguf.GGUFValueType.get_type(value), value)
    if not value:
        return {"t": int(V.ARRAY), "e": int(sub_type if sub_type is not None else V.UINT8), "v": []}
    element = sub_type if sub_type is not None else gguf.GGUFValueType.get_type(value[0])
    if element == V.ARRAY:
        return {"t": int(V.ARRAY), "e": int(V.ARRAY), "v": [typed_nested(item, None) for item in value]}
    return typed(V.ARRAY, value, element)


def quantized_raw(qtype: T, rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (rows, columns // block_size, type_size), dtype=np.uint8)
    for field in SCALE_FIELDS.get(qtype, []):
        scales = (10 ** rng.uniform(-4, -2, (rows, columns // block_size))).astype(np.float16)
        raw[:, :, field:field + 2] = scales.view(np.uint8).reshape(rows, columns // block_size, 2)
    if qtype == T.IQ2_XXS:
        raw[:, :, 0:2] = np.full((rows, columns // block_size), 0.01, dtype=np.float16).view(np.uint8).reshape(rows, -1, 2)
    return raw.reshape(rows, -1)


def valid_file() -> None:
    rng = np.random.default_rng(77)
    path = OUT / "valid-v3.gguf"
    writer = Writer(path, "qwen3")
    writer.add_custom_alignment(64)
    entries = metadata_entries()
    for key, value_type, value, sub_type in entries:
        writer.add_key_value(key, value, value_type, sub_type=sub_type)

    f32 = np.concatenate([np.array([1.5, -0.0, np.inf], dtype=np.float32), rng.standard_normal(12).astype(np.float32)]).reshape(3, 5)
    f16 = rng.standard_normal((2, 8)).astype(np.float16)
    f16.view(np.uint16)[0, :3] = [0x7C00, 0x0001, 0x7E01]
    bf16 = rng.integers(0, 65536, (4, 4), dtype=np.uint16)
    q8 = gguf.quants.quantize(rng.standard_normal((3, 64)).astype(np.float32), T.Q8_0)
    tensors = [
        ("token_embd.weight", f32, None),
        ("blk.0.f16", f16, None),
        ("blk.0.bf16", bf16.view(np.uint8), T.BF16),
        ("blk.0.q8_0", q8, T.Q8_0),
        ("blk.0.q4_k", quantized_raw(T.Q4_K, 2, 512, rng), T.Q4_K),
        ("blk.0.q6_k", quantized_raw(T.Q6_K, 3, 256, rng), T.Q6_K),
        ("blk.0.iq2_xxs", quantized_raw(T.IQ2_XXS, 2, 256, rng), T.IQ2_XXS),
        ("output_norm.weight", np.arange(7, dtype=np.float32) - 3, None),
        ("cube.3d", rng.standard_normal((2, 3, 4)).astype(np.float32), None),
        ("hyper.4d", rng.standard_normal((2, 1, 3, 2)).astype(np.float16), None),
    ]
    for name, array, raw_dtype in tensors:
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    v3 = path.read_bytes()
    assert v3[4:8] == struct.pack("<I", 3)
    (OUT / "valid-v2.gguf").write_bytes(v3[:4] + struct.pack("<I", 2) + v3[8:])

    # What gguf's own reader sees: key order, tensor infos, offsets, dequantized data.
    reader = gguf.GGUFReader(path)
    keys = [field.name for field in reader.fields.values() if not field.name.startswith("GGUF.")]
    expected_metadata = {"general.architecture": typed(V.STRING, "qwen3"), "general.alignment": typed(V.UINT32, 64)}
    for key, value_type, value, sub_type in entries:
        expected_metadata[key] = typed_nested(value, sub_type) if value_type == V.ARRAY else typed(value_type, value)
    assert sorted(keys) == sorted(expected_metadata), (keys, list(expected_metadata))
    expected_tensors = []
    for tensor in reader.tensors:
        entry = {
            "name": tensor.name,
            "type": tensor.tensor_type.name,
            "dimensions": [int(d) for d in tensor.shape],
            "offset": int(tensor.data_offset),
            "byte_count": int(tensor.n_bytes),
        }
        if tensor.tensor_type in SUPPORTED:
            values = dequantize(tensor.data, tensor.tensor_type) if tensor.tensor_type != T.F32 else tensor.data
            entry["values"] = b64(np.ascontiguousarray(values, dtype=np.float32).tobytes())
        expected_tensors.append(entry)
    expected = {
        "version": 3,
        "alignment": 64,
        "data_offset": int(reader.data_offset),
        "file_size": len(v3),
        "metadata_keys": keys,
        "metadata": expected_metadata,
        "tensors": expected_tensors,
    }
    (OUT / "valid-expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"valid-v3.gguf: {len(v3)} bytes, {len(keys)} keys, {len(expected_tensors)} tensors")


# MARK: the tokenizer file

def looks_special(token: str) -> bool:
    """The converter's heuristic for added tokens that should be CONTROL although not marked special
    (`does_token_look_special`): <|…|>, <｜…｜>, <unused…>, and a few fixed spellings."""
    return (token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (token.startswith("<|") and token.endswith("|>"))
            or (token.startswith("<｜") and token.endswith("｜>"))
            or (token.startswith("<unused") and token.endswith(">")))


def tokenizer_vocabulary(directory: Path, vocab_size: int) -> tuple[list[str], list[int]]:
    """Token spellings and types by id, following the converter's rules for GPT-2-style vocabularies
    (`get_vocab_base`): ids without a token become "[PAD<id>]" (UNUSED); added tokens are CONTROL when
    special or special-looking, else USER_DEFINED; everything else NORMAL."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    by_id = {token_id: token for token, token_id in tokenizer.vocab.items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for token_id in range(vocab_size):
        token = by_id.get(token_id)
        if token is None:
            tokens.append(f"[PAD{token_id}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        if token in added:
            if not decoder[token_id].normalized:
                # llama.cpp expects added tokens pre-normalised: round-trip them through the tokenizer.
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            if decoder[token_id].special or looks_special(token):
                types.append(gguf.TokenType.CONTROL)
            else:
                types.append(gguf.TokenType.USER_DEFINED)
                token = token.replace("\u2581", " ")
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    return tokens, [int(t) for t in types]


# The fields of Qwen3-Embedding-0.6B's config.json that the converter's tokenizer export reads: the
# vocabulary size (151 643 BPE tokens + 26 added tokens) and the bos / eos ids SpecialVocab takes from it.
MODEL_CONFIG = {"architectures": ["Qwen3ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151643, "vocab_size": 151669}


def tokenizer_file(converter_vocab: Path | None) -> None:
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as temporary:
        # The shared reference holds the tokenizer files only; add the config.json fields beside them.
        model_dir = Path(temporary)
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
            shutil.copy(TOKENIZER_DIR / name, model_dir / name)
        (model_dir / "config.json").write_text(json.dumps(MODEL_CONFIG), encoding="utf-8")
        write_tokenizer_file(model_dir, converter_vocab)


def write_tokenizer_file(model_dir: Path, converter_vocab: Path | None) -> None:
    tokens, types = tokenizer_vocabulary(model_dir, MODEL_CONFIG["vocab_size"])
    path = OUT / "qwen3-embedding-tokenizer.gguf"
    writer = gguf.GGUFWriter(path, "qwen3")
    writer.add_name("Qwen3 Embedding 0.6b")
    writer.add_tokenizer_model("gpt2")
    # The converter identifies the pre-tokenizer by hashing the ids of a probe text; Qwen2 and Qwen3
    # share the regex and the hash maps to "qwen2".
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, load_merges=True).add_to_gguf(writer, quiet=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"{path.name}: {path.stat().st_size} bytes, {len(tokens)} tokens")

    if converter_vocab is not None:
        ours = gguf.GGUFReader(path)
        theirs = gguf.GGUFReader(converter_vocab)
        compared = 0
        for name, field in theirs.fields.items():
            if not name.startswith("tokenizer."):
                continue
            assert name in ours.fields, f"missing {name}"
            assert ours.fields[name].types == field.types, name
            assert ours.fields[name].contents() == field.contents(), name
            compared += 1
        assert compared == len([n for n in ours.fields if n.startswith("tokenizer.")])
        print(f"tokenizer keys identical to the converter's ({compared} keys)")


# MARK: llama.cpp-written files

def llama_files() -> None:
    files = {}
    for path in sorted(LLAMA_FILES.glob("*.gguf")):
        reader = gguf.GGUFReader(path)
        tensors = []
        for tensor in reader.tensors:
            values = tensor.data if tensor.tensor_type == T.F32 else dequantize(tensor.data, tensor.tensor_type)
            tensors.append({
                "name": tensor.name,
                "type": tensor.tensor_type.name,
                "dimensions": [int(d) for d in tensor.shape],
                "offset": int(tensor.data_offset),
                "checksum": checksum(values),
            })
        files[path.name] = {
            "metadata_count": len([f for f in reader.fields if not f.startswith("GGUF.")]),
            "alignment": int(reader.alignment),
            "tensors": tensors,
        }
    (OUT / "llama-files.json").write_text(json.dumps(files, indent=1) + "\n", encoding="utf-8")
    print(f"llama-files.json: {len(files)} files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--converter-vocab", type=Path, help="convert_hf_to_gguf.py --vocab-only output to compare with")
    args = parser.parse_args()
    from importlib.metadata import version
    for package, pinned in (("gguf", "0.19.0"), ("numpy", "2.4.6"), ("transformers", "5.23.0")):
        if version(package) != pinned:
            print(f"warning: {package} {version(package)} is not the pinned {pinned}", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dequant-goldens.json").write_text(json.dumps(goldens(), indent=1) + "\n", encoding="utf-8")
    valid_file()
    tokenizer_file(args.converter_vocab)
    llama_files()


if __name__ == "__main__":
    sys.exit(main())
