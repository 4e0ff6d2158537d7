#!/usr/bin/env bash
# The page at GET / in Debian's headless chromium (installed here if missing), driven over the DevTools
# protocol by page_test.py against two live servers with the fixture models.
# Usage: Tests/browser/run.sh [scratch-path]   (exit status non-zero on any failure)
# Screenshots: <scratch-path>/browser-artifacts/*.png
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/Tests/browser"
scratch="${1:-$root/.build}"
venv="${BROWSER_VENV:-/tmp/qwen3-embed-browser-venv}"
artifacts="$scratch/browser-artifacts"
key="browser-test-key"
started=$SECONDS

chromium="$(command -v chromium || true)"
if [ -z "$chromium" ]; then
    if [ "$(id -u)" -ne 0 ]; then echo "browser: chromium is missing; install it with: apt-get install -y chromium" >&2; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    chromium="$(command -v chromium)"
fi
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

start full --model "$embedding" --reranker "$reranker" --api-key "$key"
full="http://127.0.0.1:$port"
start embed-only --model "$embedding" --max-client-batch-size 2
embed_only="http://127.0.0.1:$port"

rm -rf "$artifacts"
BROWSER_STARTED="$(($(date +%s) - (SECONDS - started)))" \
    "$venv/bin/python" "$here/page_test.py" "$chromium" "$artifacts" "$full" "$key" "$embed_only"
