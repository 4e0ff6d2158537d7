#!/usr/bin/env bash
# Training benchmark: `qwen3-embed train` vs PyTorch + peft, same LoRA fine-tune, same run.
# Usage: Benchmarks/train/run.sh [all|prepare] [train_bench.py options]   (default: all)
# Environment:
#   BENCH_VENV       private virtualenv (default /tmp/qwen3-train-bench-venv; reused if present)
#   BENCH_MODEL_DIR  random 0.6B-shaped model (default /tmp/qwen3-bench-model, shared with Benchmarks/compare)
#   BENCH_THREADS    threads for every engine (default 2)
#   QWEN3_BIN        our binary (default: build .build/release/qwen3-embed with swift build -c release)
#   SCRATCH_PATH     swift build scratch path (default .build)
#   TORCH_WHEEL_DIR  directory with a local torch CPU wheel to prefer
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${BENCH_VENV:-/tmp/qwen3-train-bench-venv}"
REQ="$HERE/requirements.txt"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtualenv $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, transformers, peft, safetensors, numpy" 2>/dev/null; then
  WHEEL="$(ls "${TORCH_WHEEL_DIR:-/opt/wheels}"/torch-2.13.0+cpu-*.whl /tmp/pipdl/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1 || true)"
  "$VENV/bin/pip" install -q ${WHEEL:+"$WHEEL"} -r "$REQ"
fi
if [ -z "${QWEN3_BIN:-}" ]; then
  SCRATCH="${SCRATCH_PATH:-$REPO/.build}"
  echo "== building qwen3-embed (release) in $SCRATCH" >&2
  (cd "$REPO" && swift build -c release --product qwen3-embed --scratch-path "$SCRATCH" >&2)
  export QWEN3_BIN="$SCRATCH/release/qwen3-embed"
fi
COMMAND="${1:-all}"; shift || true
exec "$VENV/bin/python" "$HERE/train_bench.py" "$COMMAND" "$@"
