#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ with AddressSanitizer and runs each for a set time.
#
#   Scripts/fuzz.sh [--smoke] [--time SECONDS] [--runs N] [--build-only] [target ...]
#
#   --smoke        what CI runs: 25 s per target (the default is 600 s)
#   --time S       run each target for S seconds
#   --runs N       stop each target after N inputs instead (whichever of time and runs comes first)
#   --build-only   build the targets and seed corpora, run nothing
#   target         any of: safetensors gguf tokenizer-json tokenizer-encode server-json jsonl (default: all)
#
# Exit status 0 only if every target built and ran its time with no crash, sanitizer report, leak,
# time-out (-timeout=10: one input taking 10 s is a finding; quadratic work shows up there) or
# out-of-memory (-rss_limit_mb=2048). Per target it prints the executions, exec/s, coverage (cov:),
# features (ft:) and corpus size. Findings are saved as .build-fuzz/artifacts/<target>/crash-… (or
# leak-…, timeout-…, oom-…); reproduce one with `.build-fuzz/bin/<target> <file>`.
#
# Why swiftc and not SwiftPM: each target is one module compiled from the sources it tests plus its
# Fuzz/*.swift file, with -sanitize=fuzzer,address, so fuzzing never builds Hummingbird, NIO or the
# numeric kernels, and sanitizer flags never touch the main .build directory. Everything the script
# writes is under .build-fuzz/ (ignored by git): bin/ the fuzzers, seeds/ the seed corpora made from
# the test fixtures by Fuzz/make_seeds.py, corpus/ what libFuzzer has found interesting so far (kept
# between runs, so later runs start where earlier ones stopped), artifacts/ the findings, logs/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.build-fuzz"
ALL_TARGETS=(safetensors gguf tokenizer-json tokenizer-encode server-json jsonl)

seconds=600
runs=-1
build_only=0
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --smoke) seconds=25; shift ;;
        --time) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *)
            if [[ " ${ALL_TARGETS[*]} " != *" $1 "* ]]; then
                echo "fuzz.sh: unknown target $1 (targets: ${ALL_TARGETS[*]})" >&2; exit 2
            fi
            targets+=("$1"); shift ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/src"

# The sources each target is compiled from: one module holding the code under test (with the project's
# own `import` lines removed, since its modules become one) plus its fuzz file. ModelFormats uses Kernels'
# scalar conversions and Tokenizer uses ModelFormats' JSON parser, so those come along; Kernels' C half
# (CKernels) is compiled once by ckernels() and imported through a generated module map.
ROOT_MODULES='^import (Kernels|ModelFormats|Tokenizer)$'
stripped_copy() {  # stripped_copy TARGET FILE...: copies without the project's imports, echoes the paths
    local dir="$OUT/src/$1"; shift
    mkdir -p "$dir"
    local file name
    for file in "$@"; do
        name="$dir/$(echo "${file#"$ROOT"/}" | tr '/' '_')"
        grep -v -E "$ROOT_MODULES" "$file" >"$name.new"
        cmp -s "$name.new" "$name" 2>/dev/null && rm "$name.new" || mv "$name.new" "$name"
        echo "$name"
    done
}
sources_of() {
    local kernels modelformats tokenizer json
    kernels=$(find "$ROOT/Sources/Kernels" -name '*.swift' | sort)
    modelformats=$(find "$ROOT/Sources/ModelFormats" -name '*.swift' | sort)
    tokenizer=$(find "$ROOT/Sources/Tokenizer" -name '*.swift' | sort)
    json=$(find "$ROOT/Sources/ModelFormats/JSON" -name '*.swift' | sort)
    case "$1" in
        # shellcheck disable=SC2086
        safetensors) echo "$(stripped_copy "$1" $kernels $modelformats) $ROOT/Fuzz/Support/MemoryFile.swift $ROOT/Fuzz/SafetensorsHeader.swift" ;;
        # shellcheck disable=SC2086
        gguf) echo "$(stripped_copy "$1" $kernels $modelformats) $ROOT/Fuzz/Support/MemoryFile.swift $ROOT/Fuzz/GGUFReader.swift" ;;
        # shellcheck disable=SC2086
        tokenizer-json) echo "$(stripped_copy "$1" $kernels $modelformats $tokenizer) $ROOT/Fuzz/TokenizerJSON.swift" ;;
        # shellcheck disable=SC2086
        tokenizer-encode) echo "$(stripped_copy "$1" $kernels $modelformats $tokenizer) $ROOT/Fuzz/TokenizerEncode.swift" ;;
        # shellcheck disable=SC2086
        server-json) echo "$(stripped_copy "$1" $json "$ROOT/Sources/Server/RequestDecoder.swift") $ROOT/Fuzz/ServerRequest.swift" ;;
        jsonl)
            # The CLI's input reader lives in a file whose second half needs the whole engine: take the
            # part before the output section, minus the imports of project modules.
            local input="$ROOT/Sources/qwen3-embed/InputOutput.swift" part="$OUT/src/InputOutputReading.swift"
            if ! grep -q '^// MARK: - JSON Lines output' "$input"; then
                echo "fuzz.sh: $input has no '// MARK: - JSON Lines output' line to cut at" >&2; return 1
            fi
            sed '/^\/\/ MARK: - JSON Lines output/,$d' "$input" \
                | grep -v -E '^import (ModelFormats|Qwen3|Qwen3Embedding|Tokenizer)$' > "$part.new"
            cmp -s "$part.new" "$part" 2>/dev/null && rm "$part.new" || mv "$part.new" "$part"
            echo "$part $ROOT/Fuzz/Support/MemoryFile.swift $ROOT/Fuzz/JSONLines.swift" ;;
    esac
}

# Kernels' C half for the targets that compile Kernels' Swift sources: objects (no sanitizer: the C
# kernels are not what these targets fuzz) and a module map naming the real header.
ckernels() {
    local dir="$OUT/ckernels" file
    mkdir -p "$dir"
    printf 'module CKernels {\n    header "%s"\n    export *\n}\n' "$ROOT/Sources/CKernels/include/CKernels.h" >"$dir/module.modulemap"
    for file in "$ROOT"/Sources/CKernels/*.c; do
        local object="$dir/$(basename "$file" .c).o"
        if [[ ! -f "$object" || "$file" -nt "$object" || "$ROOT/Sources/CKernels/include/CKernels.h" -nt "$object" ]]; then
            clang -O2 -c -I "$ROOT/Sources/CKernels/include" "$file" -o "$object" || return 1
        fi
    done
}
needs_ckernels() { [[ "$1" =~ ^(safetensors|gguf|tokenizer-json|tokenizer-encode)$ ]]; }

# Largest input each target is given: model headers and tokenizer files need room, requests less.
max_len_of() {
    case "$1" in
        safetensors|gguf|tokenizer-json) echo 65536 ;;
        tokenizer-encode) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

build() {
    local target="$1" binary="$OUT/bin/$1" sources
    sources=$(sources_of "$target") || return 1
    # Rebuild only when a source (or this script) is newer than the binary.
    if [[ -x "$binary" ]] && [[ -z "$(find $sources "$0" -newer "$binary" 2>/dev/null)" ]]; then
        return 0
    fi
    echo "== building $target"
    local start=$SECONDS
    # -parse-as-library: the fuzz files have no top-level code (libFuzzer supplies main). ld.gold's
    # "Cannot export local symbol" warnings about ASan internals are harmless and filtered out.
    # shellcheck disable=SC2086
    local extra=()
    if needs_ckernels "$target"; then
        ckernels || { echo "fuzz.sh: compiling CKernels for $target failed" >&2; return 1; }
        extra=(-Xcc -fmodule-map-file="$OUT/ckernels/module.modulemap" -I "$ROOT/Sources/CKernels/include" "$OUT"/ckernels/*.o)
    fi
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -package-name Qwen3Embedding \
            -module-name "Fuzz_${target//-/_}" "${extra[@]}" $sources -o "$binary" \
            > "$OUT/logs/build-$target.log" 2>&1; then
        grep -v 'Cannot export local symbol' "$OUT/logs/build-$target.log" >&2
        echo "fuzz.sh: building $target failed" >&2
        return 1
    fi
    echo "   built in $((SECONDS - start)) s"
}

seed() {
    # Seeds are regenerated when the generator or the fixtures change (cheap: a second or two).
    local stamp="$OUT/seeds/.stamp"
    if [[ ! -f "$stamp" ]] || [[ -n "$(find "$ROOT/Fuzz/make_seeds.py" "$ROOT/Tests/Fixtures" -newer "$stamp" 2>/dev/null | head -1)" ]]; then
        rm -rf "$OUT/seeds"
        python3 "$ROOT/Fuzz/make_seeds.py" "$ROOT" "$OUT/seeds"
        touch "$stamp"
    fi
}

run() {
    local target="$1" log="$OUT/logs/run-$1.log"
    mkdir -p "$OUT/corpus/$target" "$OUT/artifacts/$target"
    echo "== fuzzing $target for ${seconds} s$([[ $runs -ge 0 ]] && echo " or $runs inputs")"
    local status=0
    # -use_value_profile: comparisons guide mutation (magic numbers, dtype names, JSON keywords).
    # Leak detection is on (libFuzzer's default with ASan): a leak is a finding like a crash.
    FUZZ_TOKENIZER_DIRECTORY="$ROOT/Tests/Fixtures/tiny-qwen3-embedding" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:allocator_may_return_null=1" \
        "$OUT/bin/$target" "$OUT/corpus/$target" "$OUT/seeds/$target" \
        -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len_of "$target")" -use_value_profile=1 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$target/" > "$log" 2>&1 || status=$?
    # Summary from libFuzzer's own report: the last status line and the final statistics.
    local line executions rate
    line=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    executions=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
    printf '   %-16s executions %-10s exec/s %-7s %s\n' "$target" "${executions:-?}" "${rate:-?}" \
        "$(echo "$line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' || echo "$line")"
    if [[ $status -ne 0 ]]; then
        echo "   FINDING in $target (exit $status): see $log and $OUT/artifacts/$target/" >&2
        grep -E 'ERROR: |SUMMARY: |Fatal error|Precondition failed|==[0-9]+==' "$log" | head -5 >&2 || true
        return 1
    fi
}

seed
failed=()
for target in "${targets[@]}"; do
    if ! build "$target"; then failed+=("$target (build)"); continue; fi
done
if [[ $build_only -eq 1 ]]; then
    [[ ${#failed[@]} -eq 0 ]] || { echo "fuzz.sh: failed: ${failed[*]}" >&2; exit 1; }
    exit 0
fi
for target in "${targets[@]}"; do
    [[ " ${failed[*]-} " == *" $target (build) "* ]] && continue
    run "$target" || failed+=("$target")
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: all targets clean"
