/// The page at `GET /`: try similarity and reranking by hand (plain HTML and fetch, no build step).
let homePage = #"""
<!doctype html>
<html><head><meta charset="utf-8"><title>qwen3-embed</title>
<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}textarea{width:100%;height:6em}pre{background:#eee;padding:1em}</style>
</head><body>
<h1>qwen3-embed</h1>
<p>API key (if the server needs one): <input id="key" type="password"></p>
<h2>Similarity</h2>
<p>Query: <input id="query" size="60" value="What is the capital of China?"></p>
<p>Documents (one per line):</p>
<textarea id="docs">The capital of China is Beijing.
Gravity is a force that attracts two bodies towards each other.</textarea>
<p><button onclick="similarity()">Embed and compare</button> <button onclick="rerank()">Rerank</button></p>
<pre id="out"></pre>
<script>
function headers() {
  const h = {"Content-Type": "application/json"}, k = document.getElementById("key").value;
  if (k) h["Authorization"] = "Bearer " + k;
  return h;
}
function docs() { return document.getElementById("docs").value.split("\n").filter(s => s.trim()); }
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: headers(), body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) throw new Error(JSON.stringify(j));
  return j;
}
async function similarity() {
  const out = document.getElementById("out");
  try {
    const q = await post("/v1/embeddings", {input: document.getElementById("query").value, prompt_name: "query"});
    const d = await post("/v1/embeddings", {input: docs()});
    const qv = q.data[0].embedding;
    out.textContent = d.data.map((e, i) => e.embedding.reduce((s, x, j) => s + x * qv[j], 0).toFixed(4) + "  " + docs()[i]).join("\n");
  } catch (e) { out.textContent = e.message; }
}
async function rerank() {
  const out = document.getElementById("out");
  try {
    const r = await post("/v1/rerank", {query: document.getElementById("query").value, documents: docs(), return_documents: true});
    out.textContent = r.results.map(x => x.relevance_score.toFixed(4) + "  " + x.document.text).join("\n");
  } catch (e) { out.textContent = e.message; }
}
</script>
</body></html>
"""#
