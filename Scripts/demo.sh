#!/usr/bin/env bash
# Builds qwen3-embed in release mode and runs the main job on the bundled tiny reference models:
# embeddings for a query and two documents, a similarity table, and reranker scores.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product qwen3-embed
bin=.build/release/qwen3-embed
embedding=Tests/Fixtures/tiny-qwen3-embedding
reranker=Tests/Fixtures/tiny-qwen3-reranker

echo "== embed (query with instruction, MRL 32 dims)"
$bin embed --model "$embedding" --dimensions 32 \
  --instruction "Given a web search query, retrieve relevant passages that answer the query" \
  "What is the capital of China?" | cut -c1-160
echo "== embed (documents)"
$bin embed --model "$embedding" "The capital of China is Beijing." "Gravity is a force." | cut -c1-160
echo "== similarity"
$bin similarity --model "$embedding" --query "What is the capital of China?" \
  "The capital of China is Beijing." "Gravity is a force that attracts two bodies towards each other."
echo "== rerank"
$bin rerank --model "$reranker" --query "What is the capital of China?" \
  "The capital of China is Beijing." "Gravity is a force that attracts two bodies towards each other."
echo "== quantize to GGUF Q8_0, then embed from the file"
gguf="$(mktemp -d)/tiny-q8_0.gguf"
$bin quantize --model Tests/Fixtures/tiny-qwen3-quant --type q8_0 --output "$gguf"
$bin embed --model "$gguf" "The capital of China is Beijing." | cut -c1-160
rm -rf "$(dirname "$gguf")"
echo "(tiny random-weight models: the numbers prove the pipeline, not relevance; use a real model for that)"
