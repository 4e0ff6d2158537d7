/// The page at `GET /`: try similarity and reranking by hand (plain HTML and fetch, no build step).
///
/// The page is static on purpose: it asks `GET /v1/models` which models are loaded (and their kinds)
/// when it opens, so the server never templates it and it shows what clients see. It shows only the
/// actions the loaded models can do, labels what each score means (cosine similarity of embeddings, or
/// the reranker's relevance probability), sorts results best first, disables the buttons while a
/// request runs, and turns error bodies of any route family into a readable sentence. It fits a 400-px
/// phone screen (viewport meta, fluid widths, wrapping text). Element ids are what the browser test
/// (Tests/browser) reads, so keep them stable.
let homePage = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qwen3-embed</title>
<style>
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:50em;margin:0 auto;padding:1em;line-height:1.4;color:#222}
h1{font-size:1.5em;margin:.2em 0 .5em}
label{display:block;font-weight:600;margin:.8em 0 .2em}
input,textarea,button{font:inherit;max-width:100%}
input[type=text],input[type=password],textarea{width:100%;padding:.4em;border:1px solid #999;border-radius:4px}
textarea{height:7em;resize:vertical}
.actions{display:flex;flex-wrap:wrap;gap:.5em;margin:1em 0}
button{padding:.5em 1em;border:1px solid #245;border-radius:4px;background:#2a5a8a;color:#fff;cursor:pointer}
button:disabled{opacity:.55;cursor:progress}
#models{margin:0;padding-left:1.2em}
.kind{display:inline-block;font-size:.8em;padding:0 .4em;border-radius:3px;background:#e4ecf4;margin-left:.3em}
#status{min-height:1.4em;color:#555}
#error{display:none;white-space:pre-wrap;overflow-wrap:anywhere;background:#fdecea;border:1px solid #e0a39c;
  color:#7a1d12;padding:.6em;border-radius:4px}
table{width:100%;border-collapse:collapse;table-layout:fixed}
th,td{text-align:left;padding:.3em;border-bottom:1px solid #ddd;vertical-align:top}
td.text{overflow-wrap:anywhere}
th.rank,td.rank{width:2.5em}th.score,td.score{width:8.5em;font-variant-numeric:tabular-nums}
#explanation{font-size:.9em;color:#444}
</style>
</head><body>
<h1>qwen3-embed</h1>
<p id="models-title">Loaded models:</p>
<ul id="models"><li>loading…</li></ul>
<label for="key">API key (only if the server needs one)</label>
<input id="key" type="password" autocomplete="off">
<label for="query">Query</label>
<input id="query" type="text" value="What is the capital of China?">
<label for="docs">Documents, one per line</label>
<textarea id="docs">The capital of China is Beijing.
Gravity is a force that attracts two bodies towards each other.
Paris is the capital of France.</textarea>
<div class="actions">
<button id="similarity" type="button" hidden>Embed and compare</button>
<button id="rerank" type="button" hidden>Rerank</button>
</div>
<div id="status" role="status" aria-live="polite"></div>
<div id="error" role="alert"></div>
<div id="results" aria-live="polite"></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
let models = [];

function headers() {
  const h = {"Content-Type": "application/json"}, k = $("key").value.trim();
  if (k) h["Authorization"] = "Bearer " + k;
  return h;
}

// Every route family's error body, as one sentence: OpenAI {error: {message}}, TEI {error, error_type},
// Cohere {message}; anything else (a proxy's HTML page) is summarised by its status.
function errorText(status, body) {
  let message = "";
  if (body && typeof body === "object") {
    if (body.error && typeof body.error === "object" && body.error.message) message = body.error.message;
    else if (typeof body.error === "string") message = body.error;
    else if (typeof body.message === "string") message = body.message;
  }
  if (status === 401) return "The server needs an API key: enter it above and try again." + (message ? " (" + message + ")" : "");
  return "The server answered " + status + (message ? ": " + message : ".");
}

async function call(method, path, body) {
  let reply;
  try {
    reply = await fetch(path, {method, headers: headers(), body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new Error("Could not reach the server (" + e.message + ").");
  }
  let parsed = null;
  try { parsed = await reply.json(); } catch (e) { parsed = null; }
  if (!reply.ok) throw new Error(errorText(reply.status, parsed));
  if (parsed === null) throw new Error("The server answered " + reply.status + " without a JSON body.");
  return parsed;
}

function showError(message) {
  $("error").textContent = message;
  $("error").style.display = message ? "block" : "none";
}

function setBusy(busy, what) {
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
  for (const id of ["similarity", "rerank"]) $(id).disabled = busy;
  $("status").textContent = busy ? what + "…" : "";
}

// `kind` from /v1/models: "reranker" answers /v1/rerank; anything else ("embedding", or a language
// model served for its last-token states) answers /v1/embeddings.
const reranks = model => model.kind === "reranker";

async function loadModels() {
  try {
    const list = await call("GET", "/v1/models");
    models = list.data || [];
    showError("");
  } catch (e) {
    models = [];
    $("models").innerHTML = "<li>unknown until the server answers</li>";
    showError(e.message);
    document.body.dataset.models = "unknown";  // the browser test waits for data-models
    return;
  }
  const items = $("models");
  items.textContent = "";
  for (const model of models) {
    const li = document.createElement("li");
    li.textContent = model.id;
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = model.kind || "unknown kind";
    li.appendChild(kind);
    items.appendChild(li);
  }
  if (!models.length) items.innerHTML = "<li>none</li>";
  $("similarity").hidden = !models.some(m => !reranks(m));
  $("rerank").hidden = !models.some(reranks);
  document.body.dataset.models = "loaded";
}

function documents() { return $("docs").value.split("\n").map(s => s.trim()).filter(s => s); }

// Results best first; `data-score` keeps the exact value the page computed or received.
function showResults(rows, label, explanation) {
  rows.sort((a, b) => b.score - a.score || a.index - b.index);
  const results = $("results");
  results.textContent = "";
  const note = document.createElement("p");
  note.id = "explanation";
  note.textContent = explanation;
  const table = document.createElement("table");
  table.id = "ranking";
  table.dataset.kind = label;
  const head = table.createTHead().insertRow();
  for (const [text, cls] of [["#", "rank"], [label, "score"], ["Document", "text"]]) {
    const th = document.createElement("th");
    th.textContent = text;
    th.className = cls;
    head.appendChild(th);
  }
  const body = table.createTBody();
  rows.forEach((row, position) => {
    const tr = body.insertRow();
    tr.dataset.index = row.index;
    tr.dataset.score = String(row.score);
    const cells = [String(position + 1), row.score.toFixed(4), row.text];
    ["rank", "score", "text"].forEach((cls, i) => {
      const td = tr.insertCell();
      td.className = cls;
      td.textContent = cells[i];
    });
  });
  results.appendChild(note);
  results.appendChild(table);
}

async function run(what, work) {
  showError("");
  setBusy(true, what);
  try { await work(); } catch (e) { $("results").textContent = ""; showError(e.message); } finally { setBusy(false); }
}

$("similarity").addEventListener("click", () => run("Embedding", async () => {
  const docs = documents();
  if (!docs.length) throw new Error("Enter at least one document.");
  const q = await call("POST", "/v1/embeddings", {input: $("query").value, prompt_name: "query", encoding_format: "float"});
  const d = await call("POST", "/v1/embeddings", {input: docs, encoding_format: "float"});
  const qv = q.data[0].embedding;
  // Both vectors are unit length, so the dot product is their cosine.
  const rows = d.data.map(e => ({index: e.index, text: docs[e.index], score: e.embedding.reduce((s, x, j) => s + x * qv[j], 0)}));
  showResults(rows, "cosine similarity",
    "Cosine similarity between the query (embedded with the default web-search instruction) and each document " +
    "(embedded as is), from -1 to 1; higher is more similar. Comparable within one query only.");
}));

$("rerank").addEventListener("click", () => run("Reranking", async () => {
  const docs = documents();
  if (!docs.length) throw new Error("Enter at least one document.");
  const r = await call("POST", "/v1/rerank", {query: $("query").value, documents: docs});
  const rows = r.results.map(x => ({index: x.index, text: docs[x.index], score: x.relevance_score}));
  showResults(rows, "relevance probability",
    "The reranker's probability (0 to 1) that the document answers the query, read from its yes/no head.");
}));

$("key").addEventListener("change", loadModels);
loadModels();
</script>
</body></html>
"""#
