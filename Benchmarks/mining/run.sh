#!/bin/sh
# Builds the mining search benchmark with optimisation in a scratch folder (never the package's .build:
# a release build of the whole package takes ~30 minutes), from the package's own sources: the Kernels
# module, the C kernels, and Evaluation's SimilaritySearch.swift (the one top-k implementation).
# Usage: Benchmarks/mining/run.sh [documents width queries k]   (default 100000 1024 256 100)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${TMPDIR:-/tmp}/qwen3-mining-bench
mkdir -p "$work/CKernels"
cp "$root"/Sources/CKernels/include/*.h "$work/CKernels/"
printf 'module CKernels {\n  header "CKernels.h"\n  header "CKernelsAMX.h"\n  export *\n}\n' > "$work/CKernels/module.modulemap"
for file in "$root"/Sources/CKernels/*.c; do
  clang -O3 -fPIC -I"$root/Sources/CKernels/include" -c "$file" -o "$work/$(basename "$file" .c).o"
done
ar rcs "$work/libCKernels.a" "$work"/*.o
swiftc -O -wmo -parse-as-library -module-name Kernels -emit-module -emit-module-path "$work/Kernels.swiftmodule" \
  -emit-library -static -o "$work/libKernels.a" -I "$work/CKernels" "$root"/Sources/Kernels/*.swift
# SimilaritySearch.swift belongs to Evaluation; here it is compiled into the benchmark as it is.
swiftc -O -wmo -o "$work/mining-bench" -I "$work" -I "$work/CKernels" -L "$work" -lKernels -lCKernels \
  "$root/Benchmarks/mining/main.swift" "$root/Sources/Evaluation/Embedding/SimilaritySearch.swift"
lscpu | sed -n 's/^Model name: *//p'
"$work/mining-bench" "$@"
