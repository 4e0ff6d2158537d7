#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (run by Scripts/fuzz.sh; standard library only).

Usage: make_seeds.py REPOSITORY_ROOT OUTPUT_DIRECTORY

Writes OUTPUT_DIRECTORY/<target>/<name> for every target: the small model files among the test
fixtures, the head of the large ones (their headers are the interesting part), files built here to
reach code the fixtures do not (one tensor of every GGML type, minimal tokenizer.json files), the
tokenizer parity strings, and typical request bodies and JSON Lines inputs.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path

HEAD = 64 * 1024  # bytes kept of large files: the fuzzers' -max_len


def write(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def safetensors_file(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict | None = None) -> bytes:
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


# (GGML type id, block size, bytes per block) for every type the reader knows the layout of.
GGML_TYPES = [
    (0, 1, 4), (1, 1, 2), (2, 32, 18), (3, 32, 20), (6, 32, 22), (7, 32, 24), (8, 32, 34), (9, 32, 40),
    (10, 256, 84), (11, 256, 110), (12, 256, 144), (13, 256, 176), (14, 256, 210), (15, 256, 292),
    (16, 256, 66), (17, 256, 74), (18, 256, 98), (19, 256, 50), (20, 32, 18), (21, 256, 110), (22, 256, 82),
    (23, 256, 136), (24, 1, 1), (25, 1, 2), (26, 1, 4), (27, 1, 8), (28, 1, 8), (29, 256, 56), (30, 1, 2),
    (34, 256, 54), (35, 256, 66), (39, 32, 17), (40, 64, 36), (41, 128, 18),
]


def gguf_every_type() -> bytes:
    """A v3 GGUF file with one two-row tensor of every GGML type (pseudo-random block bytes) and
    metadata of every value type, including the tokenizer keys."""
    alignment = 32
    metadata = [
        (gguf_string("general.architecture"), 8, gguf_string("qwen3")),
        (gguf_string("general.alignment"), 4, struct.pack("<I", alignment)),
        (gguf_string("qwen3.context_length"), 10, struct.pack("<Q", 40960)),
        (gguf_string("qwen3.rope.freq_base"), 6, struct.pack("<f", 1e6)),
        (gguf_string("general.flag"), 7, b"\x01"),
        (gguf_string("tokenizer.ggml.model"), 8, gguf_string("gpt2")),
        (gguf_string("tokenizer.ggml.pre"), 8, gguf_string("qwen2")),
        (gguf_string("tokenizer.ggml.tokens"), 9,
         struct.pack("<IQ", 8, 3) + gguf_string("a") + gguf_string("b") + gguf_string("ab")),
        (gguf_string("tokenizer.ggml.token_type"), 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, 1, 1)),
        (gguf_string("tokenizer.ggml.merges"), 9, struct.pack("<IQ", 8, 1) + gguf_string("a b")),
        (gguf_string("tokenizer.ggml.eos_token_id"), 4, struct.pack("<I", 2)),
        (gguf_string("general.values"), 9, struct.pack("<IQ", 12, 2) + struct.pack("<2d", 0.5, -2.0)),
        (gguf_string("general.small"), 3, struct.pack("<h", -7)),
    ]
    infos = b""
    data = b""
    for type_id, block, block_bytes in GGML_TYPES:
        rows, row_length = 2, block * (1 if block > 1 else 8)
        payload = hashlib.sha256(bytes([type_id])).digest() * (rows * block_bytes * (row_length // block) // 32 + 1)
        payload = payload[: rows * block_bytes * (row_length // block)]
        data += b"\x00" * (-len(data) % alignment)
        infos += gguf_string(f"t{type_id}") + struct.pack("<I", 2) + struct.pack("<2Q", row_length, rows)
        infos += struct.pack("<I", type_id) + struct.pack("<Q", len(data))
        data += payload
    header = b"GGUF" + struct.pack("<IQQ", 3, len(GGML_TYPES), len(metadata))
    for key, value_type, value in metadata:
        header += key + struct.pack("<I", value_type) + value
    header += infos
    header += b"\x00" * (-len(header) % alignment)
    return header + data


def tokenizer_json(**overrides) -> bytes:
    """A minimal Qwen-style tokenizer.json: the 256 byte-level tokens, a few merges, added tokens."""
    def byte_level():
        printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        mapping, extra = {}, 0
        for byte in range(256):
            if byte in printable:
                mapping[byte] = chr(byte)
            else:
                mapping[byte] = chr(256 + extra)
                extra += 1
        return mapping
    spelling = byte_level()
    vocab = {spelling[b]: b for b in range(256)}
    merges = [["a", "b"], ["ab", "c"], ["\u0120", "t"], ["h", "e"]]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    document = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": 300, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True},
            {"id": 301, "content": "<think>", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False},
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [300],
                                                                "tokens": ["<|endoftext|>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    for key, value in overrides.items():
        document[key] = value
    return json.dumps(document, ensure_ascii=False).encode()


def main() -> int:
    root, output = Path(sys.argv[1]), Path(sys.argv[2])
    fixtures = root / "Tests" / "Fixtures"

    # safetensors: small fixture files whole, the large ones' heads (header + some data), built files.
    target = output / "safetensors"
    for path in sorted(fixtures.rglob("*.safetensors")):
        data = path.read_bytes()
        write(target, f"{path.parent.name}-{path.name}", data if len(data) <= HEAD else data[:HEAD])
    write(target, "built-three-dtypes", safetensors_file({
        "a.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
        "b.weight": ("F16", [4], b"\x00\x3c" * 4),
        "c": ("BF16", [], b"\x80\x3f"),
        "empty": ("F32", [0, 5], b""),
    }, metadata={"format": "pt"}))

    # GGUF: the reader fixtures, the heads of llama.cpp's files, one tensor of every type.
    target = output / "gguf"
    for path in sorted(fixtures.rglob("*.gguf")):
        data = path.read_bytes()
        write(target, f"{path.parent.name}-{path.name}", data if len(data) <= HEAD else data[:HEAD])
    write(target, "built-every-type.gguf", gguf_every_type())

    # tokenizer.json: minimal files (which load) and variants that must be refused.
    target = output / "tokenizer-json"
    write(target, "minimal.json", tokenizer_json())
    write(target, "no-normalizer.json", tokenizer_json(normalizer=None))
    write(target, "no-post-processor.json", tokenizer_json(post_processor=None))
    write(target, "byte-level-only.json", tokenizer_json(pre_tokenizer={
        "type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}))
    write(target, "wrong-model.json", tokenizer_json(model={"type": "WordPiece", "vocab": {}}))
    write(target, "sequence-normalizer.json", tokenizer_json(normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}]}))

    # Tokenizer input: every parity string (multilingual, NFC, contractions, whitespace, long pieces).
    target = output / "tokenizer-encode"
    for name in ["corpus.json", "nfc.json"]:
        path = fixtures / "tokenizer" / name
        if not path.exists():
            continue
        document = json.loads(path.read_text())
        entries = document if isinstance(document, list) else document.get("strings", [])
        for index, entry in enumerate(entries):
            text = entry.get("text")
            if text:
                write(target, f"{path.stem}-{index}", text.encode("utf-8", "surrogatepass")[:HEAD])

    # Request bodies of every route family, valid and not.
    target = output / "server-json"
    bodies = [
        {"input": "The capital of China is Beijing.", "model": "qwen3", "dimensions": 256, "encoding_format": "float"},
        {"input": ["a", "b"], "encoding_format": "base64", "user": "x"},
        {"input": [[1, 2, 3], [4]], "model": "m"},
        {"inputs": "hello", "normalize": True, "truncate": False, "prompt_name": "query"},
        {"query": "q", "documents": ["d1", "d2"], "top_n": 1, "return_documents": True, "instruction": "i"},
        {"query": "q", "texts": ["t"], "raw_scores": False, "return_text": True},
        {"content": "tokenize me", "add_special_tokens": True, "with_pieces": True},
        {"texts": ["a"], "input_type": "search_query", "embd_normalize": 2, "output_dimension": 64, "max_tokens": 10},
    ]
    for index, body in enumerate(bodies):
        write(target, f"body-{index}.json", json.dumps(body).encode())
    for index, raw in enumerate([b"[1,2,]", b"{\"a\":1e2}", b"\"\\ud800\"", b"[" * 200, b"{\"input\":\"\\u00e9\"}",
                                 b"-0.0e-5", b"{\"a\":{\"b\":[null,true,false]}}"]):
        write(target, f"raw-{index}.json", raw)

    # JSON Lines inputs.
    target = output / "jsonl"
    write(target, "embed.jsonl", b'{"text": "hello"}\n{"text": "world"}\n\n')
    write(target, "rerank.jsonl", b'{"query": "q", "document": "d"}\n{"query": "\\u00e9", "document": ""}\n')
    write(target, "bad.jsonl", b'{"text": 1}\n[1,2]\n{"text": "ok"')
    write(target, "deep.jsonl", b'{"text": "x", "n": ' + b"[" * 70 + b"]" * 70 + b"}\n")
    write(target, "invalid-utf8.jsonl", b'{"text": "caf\xe9"}\r\n')
    return 0


if __name__ == "__main__":
    sys.exit(main())
