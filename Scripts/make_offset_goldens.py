#!/usr/bin/env python3
"""Token offset goldens: for every string of the tokenizer parity corpus (plus a few strings aimed at
normalisation edge cases), the ids and offsets Hugging Face `tokenizers` gives with the Qwen3-Embedding
tokenizer, special tokens added.

Run once with a Python that has `tokenizers` (output committed; CI never installs Python packages):

    python Scripts/make_offset_goldens.py

Reads Tests/Fixtures/tokenizer/corpus.json (written by Scripts/tokenizer_corpus.py) and the tokenizer in
../shared/reference/tokenizer/qwen3-embedding (beside the repository clone).

Writes Tests/Fixtures/tokenizer/offsets.json:
    {"tokenizers_version": ..., "entries": [{"text", "ids", "offsets"}, ...]}
where "offsets" holds one [start, end) pair per id in UTF-8 *bytes* of "text" (the Rust library's and
TEI's unit; Python's `Encoding.offsets` counts characters, converted here), or null for the ids the
post-processor added (special_tokens_mask 1, which `tokenizers` reports as (0, 0)). Entries of the corpus
given as raw bytes appear here already decoded the way Python does (`errors="replace"`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT.parent / "shared" / "reference" / "tokenizer" / "qwen3-embedding" / "tokenizer.json"
CORPUS = ROOT / "Tests" / "Fixtures" / "tokenizer" / "corpus.json"
OUTPUT = ROOT / "Tests" / "Fixtures" / "tokenizer" / "offsets.json"

# Strings where NFC changes the text, so offsets must be mapped back through the normaliser: composition
# (the composed character's offsets cover only the first original character), expansion (both halves of
# U+0958 map to the original character), reordering of combining marks, Hangul jamo; and added tokens
# written in the text next to multi-byte characters.
EXTRA = [
    "cafe\u0301 au lait",
    "a\u0958b \u0915\u093c",
    "q\u0302\u0323 reordered marks",
    "a\u0302\u0323 composes to one",
    "\u1100\u1161\u11a8\u1100\u1161 \u1112\u1161\u11ab",
    "e\u0301\u0301\u0301 stacked",
    "\u212b angstrom sign \u2126 ohm sign",
    "<|im_start|>\u6771\u4eac<|im_end|>\u00e9",
    "\U0001F600\U0001F600 emoji \U0001F469\u200d\U0001F469\u200d\U0001F467",
]


def byte_offsets(text: str, start: int, end: int) -> list[int]:
    """Character offsets → UTF-8 byte offsets (offsets always fall on character boundaries)."""
    return [len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))]


def main() -> int:
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    corpus = json.loads(CORPUS.read_text())
    texts = [entry["text"] if "text" in entry else entry["decoded"] for entry in corpus] + EXTRA
    entries = []
    for text in texts:
        encoding = tokenizer.encode(text, add_special_tokens=True)
        offsets = [
            None if special else byte_offsets(text, start, end)
            for (start, end), special in zip(encoding.offsets, encoding.special_tokens_mask)
        ]
        entries.append({"text": text, "ids": encoding.ids, "offsets": offsets})
    OUTPUT.write_text(
        json.dumps({"tokenizers_version": tokenizers.__version__, "entries": entries},
                   ensure_ascii=False, separators=(",", ":"))
        + "\n"
    )
    print(f"{len(entries)} strings written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
