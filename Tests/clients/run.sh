#!/usr/bin/env bash
# Runs the real Python clients (pinned in requirements.txt) against live servers with the fixture models,
# and compares every result with the CLI's output for the same inputs.
# Usage: Tests/clients/run.sh [scratch-path]   (exit status non-zero on any failure)
# Prints one line per client saying what it returned, then "clients: N passed, 0 failed".
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/Tests/clients"
scratch="${1:-$root/.build}"
venv="${CLIENTS_VENV:-/tmp/qwen3-embed-clients-venv}"
key="client-test-key"
started=$SECONDS

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# QWEN3_EMBED_BIN names an already built binary (skips the build, e.g. while another build holds the lock).
binary="${QWEN3_EMBED_BIN:-}"
if [ -z "$binary" ]; then
    swift build --package-path "$root" --scratch-path "$scratch" --product qwen3-embed
    binary="$(swift build --package-path "$root" --scratch-path "$scratch" --show-bin-path)/qwen3-embed"
fi
embedding="$root/Tests/Fixtures/tiny-qwen3-embedding"
reranker="$root/Tests/Fixtures/tiny-qwen3-reranker"

work="$(mktemp -d)"
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME ARGS...: starts `serve` on a free port, waits for its "listening on" line, sets $port.
start() {
    local name="$1"; shift
    "$binary" serve --host 127.0.0.1 --port 0 "$@" >"$work/$name.log" 2>&1 &
    local pid=$!
    servers+=("$pid")
    port=""
    for _ in $(seq 1 600); do
        port="$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$work/$name.log" | head -1)"
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log"; echo "server $name exited early" >&2; exit 1; }
        sleep 0.1
    done
    cat "$work/$name.log"; echo "server $name did not start" >&2; exit 1
}

start main --model "$embedding" --reranker "$reranker" --api-key "$key"
main_pid="${servers[0]}"
base="http://127.0.0.1:$port"
start ids --model "$embedding" --accept-token-ids
ids_base="http://127.0.0.1:$port"

export QWEN3_EMBED_BIN="$binary" EMBED_MODEL="$embedding" RERANK_MODEL="$reranker"
# (No HF_HUB_OFFLINE: huggingface_hub refuses every request in offline mode, even to a base_url; with a
# base_url it never contacts the Hub.)
export TIKTOKEN_CACHE_DIR="$venv/tiktoken-cache" PYTHONDONTWRITEBYTECODE=1
passed=0
failed=()
run() {
    local name="$1"; shift
    if (cd "$here" && "$venv/bin/python" "$@"); then passed=$((passed + 1)); else failed+=("$name"); fi
}
run openai openai_client.py "$base" "$key" "$ids_base"
run requests requests_client.py "$base" "$key"
run langchain-openai langchain_client.py "$base" "$key"
run llama-index llama_index_client.py "$base" "$key"
run huggingface_hub huggingface_hub_client.py "$base" "$key"
run cohere cohere_client.py "$base" "$key"
run openapi openapi_check.py "$base" "$key"

# Graceful shutdown: SIGTERM must end the server with status 0.
kill -TERM "$main_pid"
status=0
wait "$main_pid" || status=$?
if [ "$status" -ne 0 ]; then cat "$work/main.log"; failed+=("shutdown (exit $status after SIGTERM)"); else passed=$((passed + 1)); fi

echo "clients: took $((SECONDS - started)) s"
echo "clients: $passed passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -ne 0 ]; then echo "clients: failed: ${failed[*]}" >&2; exit 1; fi
