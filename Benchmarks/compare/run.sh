#!/usr/bin/env bash
# Side-by-side CPU benchmark: qwen3-embed vs PyTorch (transformers), llama.cpp (llama-cpp-python), ONNX Runtime
# and OpenVINO (peers.py), with each engine's worst cosine to PyTorch fp32.
# Usage: Benchmarks/compare/run.sh [all|prepare] [compare.py options]   (default: all)
# Environment:
#   BENCH_VENV       private virtualenv (default /tmp/qwen3-bench-venv; reused if present)
#   BENCH_MODEL_DIR  random-weight model cache (default /tmp/qwen3-bench-model; GGUF beside it)
#   BENCH_THREADS    threads for every engine (default 2)
#   QWEN3_BIN        our binary (default: build .build/release/qwen3-embed with swift build)
#   SCRATCH_PATH     swift build scratch path (default .build)
#   TORCH_WHEEL_DIR  directory with a local torch CPU wheel to prefer (default /tmp/pipdl)
#   BENCH_SKIP_BUILD=1  do not run swift build (use QWEN3_BIN or the existing binary as is)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${BENCH_VENV:-/tmp/qwen3-bench-venv}"
REQ="$HERE/requirements.txt"
PY_BIN="${PYTHON:-python3}"
pin() { grep -E "^$1==" "$REQ" | head -1; }

# 1. private virtualenv with the peers (reused when everything pinned is already there)
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtualenv $VENV" >&2
  "$PY_BIN" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
PIP="$VENV/bin/pip"
have() { "$VENV/bin/python" - "$1" "$2" <<'PY'
import sys, importlib.metadata as m
try: v = m.version(sys.argv[1])
except m.PackageNotFoundError: sys.exit(1)
sys.exit(0 if v.split("+")[0] == sys.argv[2] else 1)
PY
}
TORCH_V="$(pin torch | cut -d= -f3)"
if ! have torch "$TORCH_V"; then
  WHEEL="$(ls "${TORCH_WHEEL_DIR:-/tmp/pipdl}"/torch-"$TORCH_V"+cpu-*.whl 2>/dev/null | head -1 || true)"
  echo "== installing torch $TORCH_V ${WHEEL:+from $WHEEL}" >&2
  "$PIP" install -q "${WHEEL:-$(pin torch)}"
fi
for pkg in transformers numpy safetensors gguf tokenizers onnx onnxruntime openvino nncf; do
  v="$(pin $pkg | cut -d= -f3)"
  have "$pkg" "$v" || { echo "== installing $pkg $v" >&2; "$PIP" install -q "$pkg==$v"; }
done
LLAMA_V="$(pin llama-cpp-python | cut -d= -f3)"
if ! have llama_cpp_python "$LLAMA_V"; then
  echo "== building llama-cpp-python $LLAMA_V from source (several minutes on 2 cores)" >&2
  # AVX-512/VNNI/BF16 without AMX where the CPU has AVX-512 (the AMX build segfaulted on such a machine);
  # AVX2+FMA+F16C otherwise (an AVX-512 build dies of SIGILL on a Zen 3).
  if grep -qw avx512f /proc/cpuinfo; then
    LLAMA_ISA="-DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON"
  else
    LLAMA_ISA="-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  fi
  CMAKE_ARGS="-DGGML_NATIVE=OFF $LLAMA_ISA -DGGML_OPENMP=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$PIP" install --no-binary llama-cpp-python --no-cache-dir "llama-cpp-python==$LLAMA_V"
fi

# 2. our binary
if [ -z "${QWEN3_BIN:-}" ]; then
  SCRATCH="${SCRATCH_PATH:-.build}"
  if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    echo "== swift build -c release --scratch-path $SCRATCH --product qwen3-embed" >&2
    (cd "$REPO" && swift build -c release --scratch-path "$SCRATCH" --product qwen3-embed >&2)
  fi
  case "$SCRATCH" in /*) ;; *) SCRATCH="$REPO/$SCRATCH" ;; esac
  export QWEN3_BIN="$SCRATCH/release/qwen3-embed"
fi

# 3. model + GGUF + measurements
cd "$REPO"
exec "$VENV/bin/python" "$HERE/compare.py" "${@:-all}"
