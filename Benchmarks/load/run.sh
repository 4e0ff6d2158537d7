#!/usr/bin/env bash
# Load benchmark: 200 concurrent loopback connections for 60 s, mixing embed and rerank, against the
# fixture models (or MODEL / RERANKER). Prints throughput, latency percentiles, errors and RSS.
# Usage: Benchmarks/load/run.sh [scratch-path] [configuration]   e.g. run.sh .build release
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${1:-$root/.build}"
configuration="${2:-release}"
model="${MODEL:-$root/Tests/Fixtures/tiny-qwen3-embedding}"
reranker="${RERANKER:-$root/Tests/Fixtures/tiny-qwen3-reranker}"
connections="${CONNECTIONS:-200}"
duration="${DURATION:-60s}"

swift build --package-path "$root" --scratch-path "$scratch" -c "$configuration" --product qwen3-embed
binary="$(swift build --package-path "$root" --scratch-path "$scratch" -c "$configuration" --show-bin-path)/qwen3-embed"

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

echo "server: $configuration build, pid $server, port $port"
echo "rss before: $(rss)"
wrk -t4 -c"$connections" -d"$duration" --timeout 30s --latency -s "$root/Benchmarks/load/mix.lua" "http://127.0.0.1:$port"
echo "rss after: $(rss)"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^(batch_sequences|batch_tokens)_(sum|count)|^http_requests_total' || true
kill -TERM "$server"
wait "$server" && echo "server stopped cleanly (exit 0)"
