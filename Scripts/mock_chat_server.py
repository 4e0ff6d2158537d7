#!/usr/bin/env python3
"""A small OpenAI-compatible chat server for `qwen3-embed synthesize` in CI and Scripts/recipe.sh.

Standard library only (no pip). POST {base}/v1/chat/completions answers the two synthesis steps with
valid JSON derived from the request, deterministically:
  - a request whose response_format schema has a "character" property (step 1, the configuration) gets
    {"character": <a candidate chosen by a hash of the prompt>, "question_type": ..., "difficulty": ...};
  - any other request (step 2, the query) gets {"query": <a question built from the passage's words>}.
Both response_format shapes are understood: {"type": "json_schema", "json_schema": {"schema": ...}} and
{"type": "json_object", "schema": ...}.

Usage: mock_chat_server.py [--host 127.0.0.1] [--port 0] [--port-file FILE]
Prints "listening on http://HOST:PORT/v1" on stdout (and writes PORT to --port-file) once it accepts
connections; runs until killed. --fail-every N answers every Nth request with 503 (Retry-After: 0) to
exercise the client's retries.
"""
import argparse
import hashlib
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUESTION_TYPES = ["keywords", "acquire_knowledge", "summary", "yes_or_no", "background"]
DIFFICULTIES = ["high_school", "university", "phd"]


def schema_of(response_format):
    if not isinstance(response_format, dict):
        return {}
    if isinstance(response_format.get("json_schema"), dict):
        return response_format["json_schema"].get("schema") or {}
    return response_format.get("schema") or {}


def pick(options, key, salt):
    digest = hashlib.sha256((salt + key).encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def answer(request):
    messages = request.get("messages") or []
    prompt = messages[-1].get("content", "") if messages else ""
    if not isinstance(prompt, str):
        prompt = json.dumps(prompt)
    schema = schema_of(request.get("response_format"))
    properties = schema.get("properties") or {}
    if "character" in properties:
        candidates = properties["character"].get("enum") or ["a curious reader"]
        return {
            "character": pick(candidates, prompt, "character"),
            "question_type": pick(QUESTION_TYPES, prompt, "type"),
            "difficulty": pick(DIFFICULTIES, prompt, "difficulty"),
        }
    passage = prompt.split("**Passage**:", 1)[-1].split("**Requirement**", 1)[0]
    words = re.findall(r"\w+", passage)
    length = re.search(r"about (\d+) words", prompt)
    count = max(2, min(int(length.group(1)) if length else 6, 12))
    return {"query": "what about " + " ".join(words[:count]).lower() + "?"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen = 0
    fail_every = 0

    def log_message(self, *args):  # quiet: the client reports progress
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self.reply(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        try:
            request = json.loads(raw)
        except ValueError:
            return self.reply(400, {"error": {"message": "the body is not JSON", "type": "invalid_request_error"}})
        Handler.requests_seen += 1
        if Handler.fail_every and Handler.requests_seen % Handler.fail_every == 0:
            return self.reply(503, {"error": {"message": "mock overload", "type": "server_error"}}, [("Retry-After", "0")])
        content = json.dumps(answer(request))
        self.reply(200, {
            "id": f"chatcmpl-mock-{Handler.requests_seen}", "object": "chat.completion", "created": 0,
            "model": request.get("model", "mock"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            return self.reply(200, {"object": "list", "data": [{"id": "mock", "object": "model"}]})
        self.reply(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--fail-every", type=int, default=0)
    args = parser.parse_args()
    Handler.fail_every = args.fail_every
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"listening on http://{args.host}:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
