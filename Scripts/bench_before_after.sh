#!/usr/bin/env bash
# Before/after throughput of two qwen3-embed binaries on the same model, measured in the same run.
#
#   Scripts/bench_before_after.sh [options] BEFORE_BIN AFTER_BIN [-- extra bench options]
#
#   --model DIR      model directory both binaries load (default: $BENCH_MODEL_DIR, else /tmp/qwen3-bench-model,
#                    the random-weight 0.6B model Benchmarks/compare/run.sh prepares, else the tiny fixture)
#   --rounds N       rounds of A B (default 3); each round runs both binaries once
#   --batch N        sequences per pass (default 8)
#   --seq-len L      tokens per sequence (default 128)
#   --precision P    fp32 | bf16 | auto (default fp32: the same arithmetic on every machine)
#   --threads T      worker threads (default: bench's default, one per core)
#   --iterations I   timed passes per bench run (default 5, after bench's own warm-up pass)
#   anything after -- is passed to both `qwen3-embed bench` runs unchanged
#
# Why interleaved (A B A B ...): on a shared or thermally limited machine the speed drifts over minutes;
# alternating the binaries spreads that drift over both instead of charging it to whichever ran second.
# Each run is `qwen3-embed bench --json` (p50 latency of the timed passes → tokens/s). The script prints
# every run, then per binary the median and the spread (min–max) of tokens/s, and the ratio of the medians
# after/before (> 1: the after binary is faster). Exit status non-zero if a run fails or prints no figure.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "bench_before_after.sh: $*" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${BENCH_MODEL_DIR:-}"
if [[ -z "$model" ]]; then
    if [[ -f /tmp/qwen3-bench-model/config.json ]]; then model=/tmp/qwen3-bench-model
    else model="$ROOT/Tests/Fixtures/tiny-qwen3-embedding"; fi
fi
rounds=3 batch=8 seq_len=128 precision=fp32 threads="" iterations=5
positional=() extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --model) model="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --seq-len) seq_len="$2"; shift 2 ;;
        --precision) precision="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --iterations) iterations="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        -*) fail "unknown option $1 (see --help)" ;;
        *) positional+=("$1"); shift ;;
    esac
done
[[ ${#positional[@]} -eq 2 ]] || { usage >&2; fail "expected BEFORE_BIN and AFTER_BIN"; }
before="${positional[0]}" after="${positional[1]}"
for bin in "$before" "$after"; do [[ -x "$bin" ]] || fail "$bin is not an executable"; done
[[ -f "$model/config.json" ]] || fail "$model has no config.json (pass --model DIR)"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || fail "--rounds must be a positive integer, got $rounds"

options=(--model "$model" --batch "$batch" --seq-len "$seq_len" --precision "$precision" --iterations "$iterations" --json)
[[ -n "$threads" ]] && options+=(--threads "$threads")
options+=("${extra[@]}")

echo "model      $model"
echo "workload   batch $batch × seq-len $seq_len, precision $precision, ${threads:-default} threads, $iterations timed passes, $rounds rounds"
echo "before     $before"
echo "after      $after"

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
# One bench run: its JSON line goes to the results file tagged with the side; progress (stderr) is dropped.
run() {
    local side="$1" bin="$2" line
    if ! line="$("$bin" bench "${options[@]}" 2>/dev/null | tail -1)"; then
        fail "$side run failed: $bin bench ${options[*]}"
    fi
    local tps kernel
    tps="$(jq -er '.tokens_per_second' <<<"$line" 2>/dev/null)" || fail "$side run printed no tokens_per_second: $line"
    kernel="$(jq -r '.kernel' <<<"$line")"
    printf '%-6s round %d  %10.1f tokens/s  (kernel %s)\n' "$side" "$round" "$tps" "$kernel"
    echo "$side $tps" >>"$results"
}
for ((round = 1; round <= rounds; round++)); do
    run before "$before"
    run after "$after"
done

python3 - "$results" <<'PY'
import statistics, sys
runs = {"before": [], "after": []}
for line in open(sys.argv[1]):
    side, value = line.split()
    runs[side].append(float(value))
median = {side: statistics.median(values) for side, values in runs.items()}
for side, values in runs.items():
    print(f"{side:<6} median {median[side]:10.1f} tokens/s   (min {min(values):.1f}, max {max(values):.1f}, {len(values)} runs)")
print(f"ratio  after/before {median['after'] / median['before']:.3f}")
PY
