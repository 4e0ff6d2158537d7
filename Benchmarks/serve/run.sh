#!/usr/bin/env bash
# Servers end to end (issue 17, section 4): the same MS MARCO passages and queries embedded over HTTP by our
# `qwen3-embed serve` (fp32 as the reference, bf16) and infinity-emb (torch backend), one server at a time,
# 16 concurrent requests of 32 texts. Writes results-<date>.jsonl and prints the markdown table.
# Usage: Benchmarks/serve/run.sh [--quick]
# Environment:
#   QWEN3_BIN        our release binary (default .build/release/qwen3-embed)
#   BENCH_MODEL_DIR  the random 0.6B-shaped model of Benchmarks/compare (default /tmp/qwen3-bench-model)
#   INFINITY_VENV    virtualenv with infinity-emb (default /tmp/qwen3-infinity-venv; created when missing)
#   SERVE_TEXTS      passages (default 2000; --quick 200); SERVE_THREADS (default: every core)
#   SERVE_SERVERS    comma-separated subset of: ours-fp32,ours-bf16,infinity-torch (default all)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BIN="${QWEN3_BIN:-$REPO/.build/release/qwen3-embed}"
MODEL="${BENCH_MODEL_DIR:-/tmp/qwen3-bench-model}"
VENV="${INFINITY_VENV:-/tmp/qwen3-infinity-venv}"
TEXTS="${SERVE_TEXTS:-2000}"
[[ "${1:-}" == --quick ]] && TEXTS="${SERVE_TEXTS:-200}"
THREADS="${SERVE_THREADS:-$(nproc)}"
SERVERS=",${SERVE_SERVERS:-ours-fp32,ours-bf16,infinity-torch},"
OUT="$HERE/results-$(date -u +%Y-%m-%d).jsonl"
REF="$(mktemp -d)/ours-fp32.npy"
PY="${PYTHON:-python3}"

[[ -x "$BIN" ]] || { echo "no binary at $BIN: swift build -c release --product qwen3-embed, or set QWEN3_BIN" >&2; exit 2; }
[[ -f "$MODEL/model.safetensors" ]] || { echo "no model at $MODEL: run Benchmarks/compare/run.sh prepare first" >&2; exit 2; }
"$PY" -c "import numpy" 2>/dev/null || PY="$VENV/bin/python"

echo "== CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores; $THREADS threads; $TEXTS passages" >&2
: >"$OUT"
bench() { "$PY" "$HERE/bench_serve.py" run --results "$OUT" --texts "$TEXTS" "$@"; }

if [[ "$SERVERS" == *,ours-fp32,* ]]; then
  bench --name "ours fp32" --save "$REF" \
    --server-command "$BIN serve --model $MODEL --precision fp32 --threads $THREADS --port {port} --served-model-name model --max-concurrent-requests 64"
fi
if [[ "$SERVERS" == *,ours-bf16,* ]]; then
  bench --name "ours bf16" --reference "$REF" \
    --server-command "$BIN serve --model $MODEL --precision bf16 --threads $THREADS --port {port} --served-model-name model --max-concurrent-requests 64"
fi
if [[ "$SERVERS" == *,infinity-torch,* ]]; then
  if [[ ! -x "$VENV/bin/infinity_emb" ]]; then
    echo "== creating $VENV with infinity-emb (pinned in requirements-infinity.txt)" >&2
    python3 -m venv "$VENV"
    WHEEL="$(ls "${TORCH_WHEEL_DIR:-/opt/wheels}"/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1 || true)"
    [[ -n "$WHEEL" ]] && "$VENV/bin/pip" install -q "$WHEEL"
    "$VENV/bin/pip" install -q -r "$HERE/requirements-infinity.txt"
  fi
  # sentence-transformers needs the pooling modules to pool the last token (the official model ships them).
  ST="$(mktemp -d)/model"
  mkdir -p "$ST/1_Pooling"
  for f in "$MODEL"/*; do ln -s "$f" "$ST/"; done
  cp "$REPO/Tests/Fixtures/tiny-qwen3-embedding/modules.json" "$REPO/Tests/Fixtures/tiny-qwen3-embedding/config_sentence_transformers.json" "$ST/"
  hidden="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['hidden_size'])" "$MODEL/config.json")"
  sed "s/\"word_embedding_dimension\": [0-9]*/\"word_embedding_dimension\": $hidden/" \
    "$REPO/Tests/Fixtures/tiny-qwen3-embedding/1_Pooling/config.json" >"$ST/1_Pooling/config.json"
  bench --name "infinity-emb torch fp32" --reference "$REF" \
    --server-command "env DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0 OMP_NUM_THREADS=$THREADS $VENV/bin/infinity_emb v2 --url-prefix /v1 --model-id $ST --served-model-name model --engine torch --device cpu --dtype float32 --batch-size 32 --port {port} --no-model-warmup --no-bettertransformer"
fi
"$PY" "$HERE/bench_serve.py" table --results "$OUT"
