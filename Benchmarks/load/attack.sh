#!/usr/bin/env bash
# Normal clients unloaded and under attack: one-sentence POST /v1/embeddings at a fixed rate for
# SECONDS, first alone, then while slowloris (slow and idle headers), slow-body and oversized-request
# clients attack the same server (Benchmarks/load/attack.py). Prints the normal clients' latency
# percentiles for both phases with their ratio (target: p99 under attack <= 3x unloaded), what the
# attackers saw, the server's descriptors, RSS and status counts, then stops it with SIGTERM.
# Usage: Benchmarks/load/attack.sh [scratch-path] [configuration]     (as run.sh; default release)
# QWEN3_BIN=path/to/qwen3-embed skips the build. RATE (50/s), SECONDS_PER_PHASE (30), SLOWLORIS (600 sockets),
# SLOW_BODY (200), OVERSIZED (4 clients), OVERSIZED_MB (8), OVERSIZED_INTERVAL (0.5 s between one
# client's requests), SERVE_ARGS (extra serve flags) override.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${1:-$root/.build}"
configuration="${2:-release}"
model="${MODEL:-$root/Tests/Fixtures/tiny-qwen3-embedding}"
rate="${RATE:-50}"
seconds="${SECONDS_PER_PHASE:-30}"
script="$root/Benchmarks/load/attack.py"

if [ -n "${QWEN3_BIN:-}" ]; then
    binary="$QWEN3_BIN"
else
    swift build --package-path "$root" --scratch-path "$scratch" -c "$configuration" --product qwen3-embed
    binary="$(swift build --package-path "$root" --scratch-path "$scratch" -c "$configuration" --show-bin-path)/qwen3-embed"
fi

log="$(mktemp)"
# shellcheck disable=SC2086
"$binary" serve --model "$model" --host 127.0.0.1 --port 0 ${SERVE_ARGS:-} >"$log" 2>&1 &
server=$!
attacker=""
trap 'kill "$server" 2>/dev/null || true; [ -n "$attacker" ] && kill "$attacker" 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 600); do
    port="$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$log" | head -1)"
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$log"; exit 1; }
fds() { ls "/proc/$server/fd" | wc -l; }
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }

echo "server: $binary, pid $server, port $port, $(nproc) cores; $(lscpu | sed -n 's/^Model name: *//p')"
echo "normal traffic: one-sentence POST /v1/embeddings, $rate req/s for $seconds s per phase"
python3 "$script" measure --port "$port" --rate "$rate" --seconds 3 >/dev/null   # warm-up
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); server fds $(fds), rss $(rss)"
unloaded="$(python3 "$script" measure --port "$port" --rate "$rate" --seconds "$seconds")"
echo "unloaded:     $unloaded"

attack_out="$(mktemp)"
python3 "$script" attack --port "$port" --slowloris "${SLOWLORIS:-600}" --slow-body "${SLOW_BODY:-200}" \
    --oversized "${OVERSIZED:-4}" --oversized-mb "${OVERSIZED_MB:-8}" --oversized-interval "${OVERSIZED_INTERVAL:-0.5}" >"$attack_out" &
attacker=$!
sleep 10   # let every attacking socket connect and the oversized clients loop
echo "attack running: server fds $(fds), rss $(rss)"
attacked="$(python3 "$script" measure --port "$port" --rate "$rate" --seconds "$seconds")"
echo "under attack: $attacked"
echo "during attack: server fds $(fds), rss $(rss); /health $(curl -s -o /dev/null -w '%{http_code} in %{time_total}s' "http://127.0.0.1:$port/health")"
kill -TERM "$attacker"
wait "$attacker" || true
attacker=""
echo "attackers saw: $(tail -1 "$attack_out")"
rm -f "$attack_out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$unloaded" "$attacked" <<'EOF'
import json, sys
u, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("| phase | completed / sent | errors | p50 | p90 | p99 | max |")
print("|---|---|---|---|---|---|---|")
for name, r in (("unloaded", u), ("under attack", a)):
    print(f"| {name} | {r['completed']} / {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms |")
ratio = a["p99_ms"] / u["p99_ms"]
print(f"p99 under attack / unloaded = {ratio:.2f} (target <= 3): {'met' if ratio <= 3 else 'NOT met'}")
EOF
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^http_requests_total' || true
kill -TERM "$server"
wait "$server" && echo "server stopped cleanly (exit 0)"
