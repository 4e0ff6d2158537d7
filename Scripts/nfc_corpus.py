#!/usr/bin/env python3
"""NFC parity fixture: what Hugging Face `tokenizers` does to every Unicode scalar, and to random strings
built to stress canonical decomposition, ordering and composition, with the ids and offsets it gives.

`tokenizers` normalises with `unicode-normalization-alignments`, whose tables are Unicode 9.0, so its
NFC differs from current Unicode (marks added later are never reordered, later composites never
formed); Sources/Tokenizer/CanonicalComposition.swift reproduces that, and this fixture checks it.

Run once with a Python that has `tokenizers` (output committed; CI never installs Python packages):

    python Scripts/nfc_corpus.py

Reads the Qwen3-Embedding tokenizer from ../shared/reference/tokenizer (beside the repository clone).
Writes Tests/Fixtures/tokenizer/nfc.json:
    {"tokenizers_version",
     "changed_scalars": [[scalar, [NFC scalars]], ...]   every scalar (surrogates excepted) whose NFC
                                                         is not itself; all others are unchanged,
     "strings": [{"text", "nfc", "ids", "offsets"}, ...]  ids without special tokens; offsets as
                                                         [start, end) in UTF-8 bytes of "text"}
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer, normalizers

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "reference" / "tokenizer"
OUTPUT = ROOT / "Tests" / "Fixtures" / "tokenizer" / "nfc.json"

# Building blocks: starters that compose, combining marks of many classes (some assigned after Unicode
# 9.0, which tokenizers treats as inert starters), characters that decompose into several marks or into
# a starter and marks, class-0 vowel signs that compose with what precedes them, Hangul jamo and
# syllables, Dives Akuru, and ordinary text, spaces and punctuation for the pre-tokenizer.
POOL = (
    list("aeiouAEIOUnNcCsSzZyYwWgGkKhHrRlLdDtT")
    + ["\u0391", "\u03b1", "\u03c9", "\u1f00", "\u0410", "\u0438", "\u0415", "\u0435", "\u00e9", "\u1ec7",
       "\u01d6", "\u1e69", "\u00c5", "\u212b", "\u2126", "\u0958", "\u0915", "\u09c7", "\u0b47", "\u0bc6",
       "\u0cc6", "\u0d46", "\u0dd9", "\u1025", "\u1b05", "\u0344", "\u0f73", "\u0f75", "\u0f81", "\u1d15e",
       "\U0001d15f", "\U0001d1bb", "\u2adc", "\uf900", "\U0002f800", "\u0374", "\u037e", "\u0387"]
    # Combining marks: classes 1, 7, 9, 202, 214, 216, 218, 220, 222, 224, 226, 228, 230, 232, 233, 234, 240.
    + ["\u0300", "\u0301", "\u0302", "\u0303", "\u0304", "\u0306", "\u0307", "\u0308", "\u030a", "\u030c",
       "\u0313", "\u0314", "\u0316", "\u031b", "\u0323", "\u0327", "\u0328", "\u032d", "\u0331", "\u0334",
       "\u0338", "\u0342", "\u0345", "\u035c", "\u035d", "\u05b0", "\u0591", "\u0651", "\u0670", "\u093c",
       "\u094d", "\u0e38", "\u0f71", "\u0f72", "\u0f74", "\u0f80", "\u1dce", "\u1dfb", "\u302a", "\u302e",
       "\u3099", "\u309a", "\U0001d165", "\U0001d16d", "\U000110ba", "\U0001e94a"]
    # Marks assigned after Unicode 9.0 (10.0 … 16.0).
    + ["\u1df6", "\u1df7", "\u1dfa", "\u0d3b", "\u1abf", "\u0898", "\u08d3", "\U00010f46", "\U0001e08f",
       "\U00011f42", "\u1acf"]
    # Class-0 characters that compose with what precedes them, and what they compose with.
    + ["\u09be", "\u09d7", "\u0b3e", "\u0b56", "\u0b57", "\u0bbe", "\u0bd7", "\u0c56", "\u0cc2", "\u0cd5",
       "\u0cd6", "\u0d3e", "\u0d57", "\u0dcf", "\u0ddf", "\u102e", "\u1b35", "\U0001133e", "\U00011357",
       "\U000114b0", "\U000114ba", "\U000114bd", "\U000115af", "\U00011127", "\U00011131", "\U00011347",
       "\U000114b9", "\U000115b8", "\U00011099", "\U0001109b", "\U000110a5"]
    # Hangul: leading, vowel and trailing jamo, LV and LVT syllables, compatibility jamo.
    + ["\u1100", "\u1112", "\u1161", "\u1175", "\u11a8", "\u11c2", "\u11a7", "\uac00", "\uac01", "\ud7a3",
       "\u3131", "\u314f"]
    # Dives Akuru (Unicode 13: tokenizers never composes U+11935 U+11930 into U+11938).
    + ["\U00011935", "\U00011930", "\U00011938"]
    # Ordinary text for the pre-tokenizer and BPE.
    + [" ", " ", "  ", "\n", "\r\n", "\t", "'s", "'", "1", "42", ".", "!?", "-", "中", "文", "🙂", "👨\u200d👩\u200d👧",
       "\ufe0f", "\u200d", "\u00a0"]
)

# Strings of one kind repeated, where quadratic normalisers used to be slow; kept short here (the
# Swift tests build long versions and compare against the short ones' structure).
PATTERNS = [
    "e\u0301" * 50,
    "a" + "\u0301\u0316" * 40,
    "a" + "\u0316\u0301" * 40,
    "\u0f73\u0f71" * 30,
    "\u1100\u1161\u11a8" * 30,
    "\u0bc6\u0bbe" * 30,
    "\u0301" * 60,
    "x" + "\u1df6\u0316" * 30,
    "\U00011935\U00011930" * 20,
    "\u1ec7\u0323\u0302" * 20,
]


def random_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    strings = []
    for _ in range(count):
        length = rng.choice([1, 2, 3, 4, 6, 8, 12, 20, 40, 80])
        strings.append("".join(rng.choice(POOL) for _ in range(length)))
    return strings


def byte_offsets(text: str, start: int, end: int) -> list[int]:
    """Character offsets → UTF-8 byte offsets."""
    return [len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))]


def main() -> int:
    nfc = normalizers.NFC()
    tokenizer = Tokenizer.from_file(str(SHARED / "qwen3-embedding" / "tokenizer.json"))

    changed = []
    for value in range(0x110000):
        if 0xD800 <= value <= 0xDFFF:
            continue
        character = chr(value)
        result = nfc.normalize_str(character)
        if result != character:
            changed.append([value, [ord(c) for c in result]])

    strings = []
    for text in PATTERNS + random_strings(1500, seed=9):
        encoding = tokenizer.encode(text, add_special_tokens=False)
        strings.append({
            "text": text,
            "nfc": nfc.normalize_str(text),
            "ids": encoding.ids,
            "offsets": [byte_offsets(text, start, end) for start, end in encoding.offsets],
        })

    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    document = {"tokenizers_version": tokenizers.__version__, "changed_scalars": changed, "strings": strings}
    OUTPUT.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{len(changed)} changed scalars, {len(strings)} strings written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
