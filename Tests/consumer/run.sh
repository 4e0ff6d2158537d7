#!/usr/bin/env bash
# Proves that Qwen3Embedding can be used as a versioned dependency: clones this repository (its committed
# HEAD, or --revision REV) into a temporary directory, tags the clone with a release version, builds the
# package in this directory (Package.swift + main.swift) against the clone with `.package(url:, from:)`,
# and runs it on the tiny fixture model. The vector it prints must equal the CLI's (`qwen3-embed embed`)
# for the same text within 1e-6 in every component.
#
# Usage: Tests/consumer/run.sh [--revision REV] [scratch-path]
#   --revision REV  test that commit instead of HEAD (e.g. one whose manifest still had unsafeFlags: SwiftPM
#                   must refuse it, and this script then fails with SwiftPM's error)
#   scratch-path    the main package's build directory, for the CLI binary (default .build);
#                   QWEN3_EMBED_BIN names an already built binary instead (skips `swift build`)
# Exit status non-zero if SwiftPM refuses the dependency, resolves anything but the tagged version, the build
# or run fails, or a component differs from the CLI's by more than 1e-6. Uncommitted changes in the working
# tree are not seen (the clone has only commits); the script says so when there are any.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/Tests/consumer"
revision=HEAD
scratch="$root/.build"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --revision) revision="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "consumer: unknown option $1" >&2; exit 2 ;;
        *) scratch="$1"; shift ;;
    esac
done
model="$root/Tests/Fixtures/tiny-qwen3-embedding"
text="The capital of China is Beijing."
started=$SECONDS

commit="$(git -C "$root" rev-parse --verify "$revision^{commit}")" || { echo "consumer: no commit $revision" >&2; exit 2; }
if [[ "$revision" == HEAD && -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]]; then
    echo "consumer: note: the working tree has uncommitted changes; this tests the last commit, ${commit:0:10}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The dependency: a clone at the commit, tagged one patch release past the highest version tag it has
# (0.1.0 when it has none), so the tag is the newest and `from:` must resolve exactly to it.
clone="$work/qwen3-embedding"
git clone --quiet "$root" "$clone"
git -C "$clone" checkout --quiet --detach "$commit"
latest="$(git -C "$clone" tag --list | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -t. -k1,1n -k2,2n -k3,3n | tail -1 || true)"
if [[ -z "$latest" ]]; then version=0.1.0
else IFS=. read -r major minor patch <<<"$latest"; version="$major.$minor.$((patch + 1))"; fi
git -C "$clone" tag "$version" "$commit"

# The consumer, beside the clone (its manifest names it ../qwen3-embedding), requiring that version.
consumer="$work/consumer"
mkdir "$consumer"
cp "$here/main.swift" "$consumer/"
sed "s/from: \"[0-9.]*\"/from: \"$version\"/" "$here/Package.swift" >"$consumer/Package.swift"
grep -q "from: \"$version\"" "$consumer/Package.swift" || { echo "consumer: Package.swift has no from: requirement to set" >&2; exit 1; }

echo "consumer: building against qwen3-embedding $version (${commit:0:10}) with from: \"$version\""
build_started=$SECONDS
if ! swift build --package-path "$consumer" >"$work/build.log" 2>&1; then
    echo "consumer: swift build failed for a dependency on $version (${commit:0:10}):" >&2
    # The distinct error lines (the compiler repeats each one); the log's tail when there are none.
    grep -E '(^|: )error: ' "$work/build.log" | awk '!seen[$0]++' | head -20 >&2 || tail -20 "$work/build.log" >&2
    exit 1
fi
build_seconds=$((SECONDS - build_started))

# SwiftPM must have resolved the tag, not a branch or revision.
# (python3 rather than jq: every machine that runs the client suites has it)
pin="$(python3 -c 'import json, sys
pins = [p["state"] for p in json.load(open(sys.argv[1]))["pins"] if p["identity"] == "qwen3-embedding"]
print(pins[0].get("version"), pins[0].get("revision")) if pins else print("none none")' "$consumer/Package.resolved")"
[[ "$pin" == "$version $commit" ]] || {
    echo "consumer: resolved $pin, expected version $version at $commit" >&2; exit 1; }

vector="$("$(swift build --package-path "$consumer" --show-bin-path)/consumer" "$model" "$text")"

binary="${QWEN3_EMBED_BIN:-}"
if [[ -z "$binary" ]]; then
    swift build --package-path "$root" --scratch-path "$scratch" --product qwen3-embed >/dev/null
    binary="$(swift build --package-path "$root" --scratch-path "$scratch" --show-bin-path)/qwen3-embed"
fi
reference="$("$binary" embed --model "$model" "$text")"

python3 - "$vector" "$reference" <<'PY'
import json, sys
vector = json.loads(sys.argv[1])
reference = json.loads(sys.argv[2])["embedding"]
if len(vector) != len(reference):
    sys.exit(f"consumer: {len(vector)} components, the CLI printed {len(reference)}")
worst = max(abs(a - b) for a, b in zip(vector, reference))
if worst > 1e-6:
    sys.exit(f"consumer: max |Δ| against the CLI is {worst:.3g} > 1e-6")
print(f"consumer: {len(vector)}-dimensional vector, max |Δ| against the CLI {worst:.3g} (≤ 1e-6)")
PY
echo "consumer: passed (dependency resolved to $version; consumer build ${build_seconds} s, total $((SECONDS - started)) s)"
