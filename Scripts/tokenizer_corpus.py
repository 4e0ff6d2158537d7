#!/usr/bin/env python3
"""Tokenizer parity corpus: strings chosen to exercise every branch of the Qwen pre-tokenizer, NFC,
added-token matching and byte-level BPE, with the ids Hugging Face `tokenizers` gives them.

Run once with a Python that has `tokenizers` (outputs committed; CI never installs Python packages):

    python Scripts/tokenizer_corpus.py

Reads the Qwen3 tokenizer files from ../shared/reference/tokenizer (beside the repository clone).

Writes Tests/Fixtures/tokenizer/corpus.json: a list of
    {"text" | "bytes_b64", "ids_embedding", "ids_reranker", "ids_no_special", "ids_truncated_8"}
where "bytes_b64" entries are raw (possibly invalid UTF-8) file contents, decoded the way Python's
`bytes.decode("utf-8", errors="replace")` does before tokenizing.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "reference" / "tokenizer"
OUTPUT = ROOT / "Tests" / "Fixtures" / "tokenizer" / "corpus.json"

CORPUS: list[str] = [
    "",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "Hello world",
    " Hello world",
    "Hello  world",
    "Hello   world   ",
    "hello\n\nworld",
    "hello \n world",
    "hello\r\nworld\r\n",
    "line one\n  indented\n\ttabbed\n",
    "trailing spaces   \n   leading",
    "a\u00a0b\u00a0\u00a0c",  # no-break spaces
    "a\u0085b",  # NEL
    "a\u2028b\u2029c",
    "zero\u200bwidth\u200cjoiners\u200d",
    "\u3000full-width space\u3000",
    "It's we're they've I'm you'll he'd don't",
    "IT'S WE'RE THEY'VE I'M YOU'LL HE'D DON'T",
    "It'S We'Re They'vE",
    "'s 't 're 've 'm 'll 'd",
    "'hello' \"quoted\" `backticks`",
    "'\u017f long s contraction",
    "rock'n'roll o'clock",
    "1234567890",
    "3.14159 2,718 -42 +7 1e10 0x1F",
    "Phone: +1 (555) 123-4567",
    "١٢٣٤ ٥٦٧ Arabic-Indic digits",
    "१२३ Devanagari digits ½ ¾ ① ② Ⅻ",
    "The year 2026 and 12:30pm",
    "東京は日本の首都です。",
    "我爱北京天安门，天安门上太阳升。",
    "繁體中文與简体中文混合",
    "서울은 대한민국의 수도입니다.",
    "\u1100\u1161\u11a8 decomposed hangul jamo",
    "カタカナとひらがなと漢字",
    "ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３",
    "مرحبا بالعالم. هذه جملة عربية.",
    "שלום עולם",
    "नमस्ते दुनिया, यह हिंदी है।",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง",
    "Привет, мир! Ёлка.",
    "Γειά σου Κόσμε",
    "Tiếng Việt có dấu",
    "café cafe\u0301 naïve nai\u0308ve résumé",
    "A\u030a \u212b Å",  # NFC folds these
    "e\u0301\u0301 double combining",
    "ﬁ ligature ﬂ",
    "😀 😃 😄",
    "👩‍👩‍👧‍👦 family",
    "👍🏽 thumbs with skin tone",
    "🇯🇵🇺🇸 flags",
    "❤️ heart with variation selector",
    "emoji😀inside😀words",
    "def add(a, b):\n\treturn a + b\r\n",
    "if (x == 1) {\n    y++;\n}\n",
    "for i in range(10):\n        print(i)  # comment\n",
    "<div class=\"main\">&nbsp;</div>",
    "SELECT * FROM users WHERE id = 1;",
    "https://example.com/path?query=value&other=1#frag",
    "user@example.com",
    "C:\\Users\\name\\file.txt",
    "!!!???...,,,;;;",
    "!\n\n",
    "...\r\n\r\n",
    "a.b.c",
    ".Hello",
    " .Hello",
    "  .  Hello",
    "--flag=value -x",
    "snake_case_name camelCaseName PascalCase",
    "$100 €50 £30 ¥1000",
    "math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷",
    "arrows → ← ↑ ↓ ⇒",
    "<|endoftext|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>",
    "text<|endoftext|>more text",
    "<think>\n\n</think>\n\n",
    "<|im_",
    "<|im_start",
    "< |im_start| >",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<|endoftext|><|endoftext|>",
    "a" * 300,
    "ab" * 200,
    " " * 50 + "x",
    "\n" * 20,
    "\t" * 10 + "tabs",
    " \n \n \n",
    "x" + " " * 7 + "\n" + " " * 3 + "y",
    "Supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtsgesellschaftskapitän",
    "The quick brown fox jumps over the lazy dog.",
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:What is the capital of China?",
    "<Instruct>: Given a web search query\n<Query>: q\n<Document>: d",
    "Mixed 日本語 and English and 한국어 and العربية in one line.",
    "\u0000null\u0001control\u001fchars\u007f",
    "\ufeffBOM at start",
    "\U0001d400\U0001d401 math bold letters",
    "\U00020000 CJK extension B",
    "ǅ titlecase ǈ",
    "ʰʲ modifier letters ˢ",
    "Ⅰ Ⅱ Ⅲ roman numerals (Nl)",
    "a\u0301\u0302\u0303\u0304\u0305",
    "    def f():\n        pass\n\n\n    x = 1\n",
    "word\u00a0\u00a0word",
    "end with newline\n",
    "end with spaces   ",
    "  ",
    "\u00a0",
    "'",
    "''",
    "'''",
    "'s",
    "x'",
    "12'34",
    # Contractions: every case, and Unicode case folding (U+017F folds to "s"; U+212A KELVIN to "k").
    "'S 'RE 'LL 'VE 'M 'D 'T 'Ll 'lL 'rE 'Ve",
    "I'LL SAY IT'S WE'RE THEY'VE YOU'D I'M CAN'T",
    "'\u017fs '\u017f '\u017ft '\u212a",
    "x'S'T'RE",
    "''s '''ll",
    "\u2019s curly apostrophe isn\u2019t a contraction",
    # Whitespace classes: U+001C..U+001F are Python whitespace but not Unicode White_Space.
    "a\x1c\x1cb\x1d\x1d c\x1e\x1f",
    "a\u0085\u0085b \u0085",
    "a\u180e\u180eb",
    "a\u200b\u200b b\u2060\u2060c\ufeff\ufeff",
    "a\u00a0\u00a0\u00a0b",
    "\u2000\u2001\u2002\u2003x\u202f\u205f\u1680y",
    "end\u00a0",
    # Newlines and carriage returns.
    "a\rb",
    "a\r\rb",
    "\r\r\n\n\r",
    " \r ",
    "x  \ny",
    "  \t\n\t  y",
    "a \n \n b",
    "\n\n\n   \n\n   word",
    "!!\r\n\r\n??",
    " !!\n",
    "tab\t\t\tafter",
    "    \t",
    " " * 200,
    "\t\n " * 30,
    # Scalars new in Unicode 17: Swift 6.3 knows them, the Oniguruma in tokenizers (Unicode 16) does not.
    "a\u088f\u088fb \U00010940\U00010941 \U00011db0x",
    # Dives Akuru: unicode-normalization never composes U+11935 U+11930 into U+11938.
    "\U00011935\U00011930 \U00011938 \U00011935\u0300\U00011930",
    # Numbers.
    "12345678901234567890",
    "٠١٢٣٤٥٦٧٨٩ ０１２３ ²³¹ ⅓",
    "v1.2.3-beta+build.45",
    # Added tokens in and around text.
    "<|im_start|><|im_start|>",
    "<|endoftext|",
    "<think></think>",
    "</think>answer",
    "x<think>y</think>z",
    "<|im_end|>\n<|im_start|>assistant\n",
    "<|<|im_end|>|>",
    "<<|endoftext|>>",
    "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
    "<|im_start|>user\ncafe\u0301<|im_end|>",
    # Long pieces (the heap-based merge path) and long texts.
    "".join(random.Random(1).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3000)),
    "abc" * 400,
    "Ж" * 500,
    "ab1" * 200,
    "x" * 70 + " " + "y" * 65,
    "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgZW5jb2RlZCB0ZXh0IHdpdGggbm8gc3BhY2Vz" * 5,
    "https://example.com/" + "very-long-path-segment/" * 20,
    "The quick brown fox jumps over the lazy dog. " * 40,
    "东京" * 300,
    "🙂" * 100,
    # More scripts and symbols.
    "ქართული ენა",
    "Հայերեն լեզու",
    "ꯃꯤꯇꯩ ꯂꯣꯟ",
    "𐌰𐌱𐌲 gothic",
    "ᚠᚢᚦᚨᚱᚲ runes",
    "ⓐⓑⓒ circled ⒜⒝",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕕𝕠𝕦𝕓𝕝𝕖",
    "\ue000\uf8ff private use \U000f0000",
    "\ufffd replacement char \ufffd\ufffd",
    "🏳️‍🌈 🧑🏿‍💻 👨‍👩‍👧 🫶🏻 🤌🏾",
    "1️⃣ 2️⃣ #️⃣ keycaps",
    "Ｈｅｌｌｏ，ｗｏｒｌｄ！",
    "ｶﾀｶﾅ half-width",
    "ㄱㄴㄷ ㅏㅑ compatibility jamo",
    "\u1112\u1161\u11ab\u1100\u1173\u11af 한글 in jamo",
    "o\u0308\u0301 u\u0323\u031b ordering",
    "\u0958\u0959 Devanagari with nukta (composition exclusions)",
    "\u212b\u2126\u00c5 singletons",
    "<s>[INST] hi [/INST]</s>",
    '{"key": [1, 2.5, null, true], "k2": "v\\n"}',
    '#include <stdio.h>\nint main(void) {\n\tprintf("%d\\n", 42);\n}\n',
    "    return x  \r\n\r\n    }\r\n",
    "| col1 | col2 |\n|------|------|\n| a    | b    |",
    "- item one\n- item two\n  - nested\n",
    "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$",
]


def random_strings(count: int, seed: int) -> list[str]:
    """Random mixtures of the character classes the pre-tokenizer distinguishes."""
    rng = random.Random(seed)
    alphabet = list("ab Z9' \n\r\t.,-_/é東한ا😀SsLlRrEe") + [
        "\u0301", "\u00a0", "\u3000", "<|im_end|>", "''", "  ", "\u0085", "\u2028", "\u017f", "\u200b",
        "\x1c", "\U0001f3fd", "\u200d", "<think>", "<|im_", "\u1100\u1161",
    ]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(count)]


INVALID_UTF8: list[bytes] = [
    b"valid then \xff invalid",
    b"\xc3\x28 bad continuation",
    b"\xe2\x82 truncated three-byte",
    b"\xf0\x9f\x98 truncated emoji",
    b"\xed\xa0\x80 surrogate",
    b"\xc0\xaf overlong",
    b"\x80\x80\x80 lone continuations",
    b"tail \xe6\x97",
    b"\xf4\x90\x80\x80 above U+10FFFF",
    b"\xe0\x80\x80 overlong three-byte",
    b"\xf0\x80\x80\x80 overlong four-byte",
    b"\xff\xfe\xfd",
    b"ends with a lead byte \xc2",
    b"\xe1\x80 two of three \xe1\x80\xe1",
    b"\xed\xbf\xbf low surrogate",
    b"caf\xe9 latin-1",
    b"mixed \xf0\x9f\x98\x80 ok \xf0\x9f bad \xe4\xb8\xad ok",
]


def main() -> int:
    embedding = Tokenizer.from_file(str(SHARED / "qwen3-embedding" / "tokenizer.json"))
    reranker = Tokenizer.from_file(str(SHARED / "qwen3-reranker" / "tokenizer.json"))
    truncating = Tokenizer.from_file(str(SHARED / "qwen3-embedding" / "tokenizer.json"))
    truncating.enable_truncation(max_length=8)

    def record(text: str) -> dict:
        return {
            "ids_embedding": embedding.encode(text, add_special_tokens=True).ids,
            "ids_reranker": reranker.encode(text, add_special_tokens=True).ids,
            "ids_no_special": embedding.encode(text, add_special_tokens=False).ids,
            "ids_truncated_8": truncating.encode(text, add_special_tokens=True).ids,
        }

    entries = []
    for text in CORPUS + random_strings(80, seed=7):
        entries.append({"text": text, **record(text)})
    for raw in INVALID_UTF8:
        text = raw.decode("utf-8", errors="replace")
        entries.append({"bytes_b64": base64.b64encode(raw).decode("ascii"), "decoded": text, **record(text)})
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(entries, ensure_ascii=False, indent=0) + "\n")
    print(f"{len(entries)} strings written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
