#!/usr/bin/env bash
# Runs the Python client checks against a real server with the fixture models.
# Usage: Tests/clients/run.sh [scratch-path]   (exit status non-zero on any failure)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${1:-$root/.build}"
venv="${CLIENTS_VENV:-/tmp/qwen3-embed-clients-venv}"
key="client-test-key"

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet openai requests

swift build --package-path "$root" --scratch-path "$scratch" --product qwen3-embed
binary="$(swift build --package-path "$root" --scratch-path "$scratch" --show-bin-path)/qwen3-embed"

log="$(mktemp)"
"$binary" serve --model "$root/Tests/Fixtures/tiny-qwen3-embedding" --reranker "$root/Tests/Fixtures/tiny-qwen3-reranker" \
    --host 127.0.0.1 --port 0 --api-key "$key" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT

port=""
for _ in $(seq 1 300); do
    port="$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$log" | head -1)"
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; echo "server exited early" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "server did not start" >&2; exit 1; }

base="http://127.0.0.1:$port"
"$venv/bin/python" "$root/Tests/clients/openai_client.py" "$base" "$key"
"$venv/bin/python" "$root/Tests/clients/requests_client.py" "$base" "$key"

# Graceful shutdown: SIGTERM must end the server with status 0.
kill -TERM "$server"
status=0
wait "$server" || status=$?
trap 'rm -f "$log"' EXIT
if [ "$status" -ne 0 ]; then cat "$log"; echo "server exited with $status after SIGTERM" >&2; exit 1; fi
echo "clients: all checks passed"
