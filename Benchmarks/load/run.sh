#!/usr/bin/env bash
# Load benchmark: 200 concurrent loopback connections for 60 s, mixing embed and rerank, against the
# fixture models (or MODEL / RERANKER). Prints throughput, latency percentiles, errors, RSS and load.
# Usage: Benchmarks/load/run.sh [scratch-path] [configuration]   e.g. run.sh .build-srv-release release
# QWEN3_BIN=path/to/qwen3-embed skips the build and uses that binary.
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${1:-$root/.build}"
configuration="${2:-release}"
model="${MODEL:-$root/Tests/Fixtures/tiny-qwen3-embedding}"
reranker="${RERANKER:-$root/Tests/Fixtures/tiny-qwen3-reranker}"
connections="${CONNECTIONS:-200}"
duration="${DURATION:-60s}"

if [ -n "${QWEN3_BIN:-}" ]; then
    binary="$QWEN3_BIN"
else
    swift build --package-path "$root" --scratch-path "$scratch" -c "$configuration" --product qwen3-embed
    binary="$(swift build --package-path "$root" --scratch-path "$scratch" -c "$configuration" --show-bin-path)/qwen3-embed"
fi

log="$(mktemp)"
"$binary" serve --model "$model" --reranker "$reranker" --host 127.0.0.1 --port 0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 600); do
    port="$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$log" | head -1)"
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$log"; exit 1; }
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }
peak() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$server/status"; }

echo "server: $configuration build ($binary), pid $server, port $port, $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# One request of each kind first, so "before" is the RSS of a server that has served (lazy
# initialisation done) and the 60 s measure steady state.
curl -sf "http://127.0.0.1:$port/v1/embeddings" -H 'Content-Type: application/json' -d '{"input": "warm up"}' >/dev/null
curl -sf "http://127.0.0.1:$port/v1/rerank" -H 'Content-Type: application/json' -d '{"query": "q", "documents": ["d"]}' >/dev/null
echo "rss before: $(rss)"
wrk -t4 -c"$connections" -d"$duration" --timeout 30s --latency -s "$root/Benchmarks/load/mix.lua" "http://127.0.0.1:$port"
echo "rss after: $(rss) (peak $(peak))"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -s "http://127.0.0.1:$port/metrics" \
    | grep -E '^(batch_sequences|batch_tokens)_(sum|count)|^http_requests_total|^cancelled_inputs_total|^queue_depth' || true
kill -TERM "$server"
wait "$server" && echo "server stopped cleanly (exit 0)"
