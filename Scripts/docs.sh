#!/usr/bin/env bash
# Builds the DocC documentation of the Qwen3Embedding library (the catalog in
# Sources/Qwen3Embedding/Qwen3Embedding.docc and the doc comments of Sources/Qwen3Embedding) with
# swift-docc-plugin, treating every warning as an error: a broken symbol or article link, a documented
# parameter that does not exist, an undocumented one beside documented ones. CI runs it.
#
#   Scripts/docs.sh [--output DIR]
#
#   (no option)    the archive goes to .build/plugins/Swift-DocC/outputs/Qwen3Embedding.doccarchive
#   --output DIR   the archive goes to DIR instead, transformed into a static website (any web server
#                  can serve it; the pages are under DIR/documentation/qwen3embedding/)
#
# The plugin builds the Qwen3Embedding target (debug, in the package's .build, reusing what `swift build`
# made) to extract its symbol graph. --disable-sandbox lets the plugin write to --output's directory
# (SwiftPM sandboxes plugins on macOS; Linux has no plugin sandbox). The examples in the articles are compiled and run by the
# DocumentationExampleTests suites, not here.
set -euo pipefail
cd "$(dirname "$0")/.."

output=""
while [ $# -gt 0 ]; do
    case "$1" in
        --output) [ $# -ge 2 ] || { echo "docs.sh: --output needs a directory" >&2; exit 2; }; output="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "docs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

started=$SECONDS
arguments=(--target Qwen3Embedding --warnings-as-errors)
if [ -n "$output" ]; then
    mkdir -p "$output"
    arguments+=(--output-path "$(cd "$output" && pwd)" --transform-for-static-hosting)
fi
swift package --disable-sandbox generate-documentation "${arguments[@]}"
echo "docs.sh: documentation built without warnings in $((SECONDS - started)) s"
