"""The page at GET / in a real headless chromium, driven over the DevTools protocol.

Usage: page_test.py CHROMIUM ARTIFACTS FULL_URL KEY EMBED_ONLY_URL
  FULL_URL: a server with an embedding model and a reranker that needs API key KEY;
  EMBED_ONLY_URL: a server with only an embedding model, no key, --max-client-batch-size 2.

On a 400-px-wide phone viewport it types into the inputs and clicks the buttons with real input
events, reads the ranked results out of the DOM and compares order and values with what the API
answers for the same request. It checks the busy state by holding the request in the browser (the
Fetch domain) until the page has been inspected, so nothing depends on timing. Screenshots go to
ARTIFACTS. Prints one line per check and ends with "browser: N passed, 0 failed".
"""
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import requests
import websocket

chromium, artifacts, full_url, key, embed_only_url = sys.argv[1:6]
WIDTH = 400
# Waits are for events the page must produce; the deadline only turns a hang into a failure.
DEADLINE = 60


class Browser:
    """One headless chromium with one page, spoken to over its DevTools WebSocket."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="qwen3-browser-")
        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", f"--window-size={WIDTH},800", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # chromium writes the port it picked into DevToolsActivePort once it listens.
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        started = time.monotonic()
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            if self.process.poll() is not None:
                raise SystemExit(f"chromium exited with {self.process.returncode}: {self.process.stderr.read()[-2000:]}")
            if time.monotonic() - started > DEADLINE:
                raise SystemExit("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(open(port_file).read().split("\n")[0])
        pages = [t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page"]
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=DEADLINE, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=800, deviceScaleFactor=1, mobile=True)

    def send(self, method, **params):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method):
        """Returns the next event `method` (already received or yet to come)."""
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)["params"]
            self.events.append(json.loads(self.socket.recv()))

    def evaluate(self, expression):
        """The value of a JavaScript expression (awaited if it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, what):
        """Waits, inside the page, until `expression` is truthy (re-checked on each DOM change)."""
        script = f"""new Promise(resolve => {{
            const check = () => {{ try {{ return {expression}; }} catch (e) {{ return false; }} }};
            if (check()) return resolve(true);
            const observer = new MutationObserver(() => {{ if (check()) {{ observer.disconnect(); resolve(true); }} }});
            observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
            setTimeout(() => {{ observer.disconnect(); resolve(check()); }}, {DEADLINE * 1000});
        }})"""
        assert self.evaluate(script), f"timed out waiting for {what}"

    def open(self, url):
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def type_into(self, element_id, text):
        """Focuses an input, selects what it holds and types `text` as keyboard input."""
        self.evaluate(f"(() => {{ const e = document.getElementById('{element_id}'); e.focus(); e.select(); }})()")
        self.send("Input.insertText", text=text)

    def click(self, element_id):
        """A real mouse click at the element's centre (fails if it is hidden)."""
        box = self.evaluate(f"""(() => {{ const r = document.getElementById('{element_id}').getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2, r.width]; }})()""")
        assert box[2] > 0, f"#{element_id} is not visible"
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, name):
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path = os.path.join(artifacts, name + ".png")
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


passed = 0


def check(text):
    global passed
    passed += 1
    print(f"browser: ok - {text}", flush=True)


def visible(browser, element_id):
    return browser.evaluate(f"document.getElementById('{element_id}').getBoundingClientRect().width > 0")


def fits(browser):
    """No horizontal scrolling at 400 px, and every line of the error box wraps inside it."""
    return browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"
                            " && document.getElementById('error').scrollWidth <= document.getElementById('error').clientWidth + 1")


def ranking(browser):
    return browser.evaluate("""[...document.querySelectorAll('#ranking tbody tr')].map(r =>
        ({index: Number(r.dataset.index), score: Number(r.dataset.score), shown: r.cells[1].textContent, text: r.cells[2].textContent}))""")


os.makedirs(artifacts, exist_ok=True)
query = "What is the capital of China?"
documents = ["Gravity is a force that attracts two bodies.", "The capital of China is Beijing.",
             "Paris is the capital of France.", "Beijing hosted the 2008 Olympics."]
api = requests.Session()
api.headers["Authorization"] = f"Bearer {key}"

browser = Browser()
try:
    # 1. A server that needs a key: the page says so in words, not JSON, and offers no action yet.
    browser.open(full_url + "/")
    assert browser.evaluate("document.querySelector('meta[name=viewport]').content").startswith("width=device-width")
    browser.wait_for("document.body.dataset.models", "the model list")
    message = browser.evaluate("document.getElementById('error').textContent")
    assert visible(browser, "error") and "API key" in message and "{" not in message, message
    assert not visible(browser, "similarity") and not visible(browser, "rerank")
    assert fits(browser)
    browser.screenshot("1-needs-key")
    check(f"without a key the page reads \"{message}\" and hides both buttons")

    # 2. With the key: both models listed with their kinds, both buttons shown.
    browser.type_into("key", key)
    browser.type_into("query", query)  # moving focus commits the key (change event), which reloads the models
    browser.wait_for("document.body.dataset.models === 'loaded' && document.getElementById('models').children.length === 2",
                     "the models after the key")
    listed = browser.evaluate("[...document.querySelectorAll('#models li')].map(li => [li.firstChild.textContent, li.querySelector('.kind').textContent])")
    served = api.get(full_url + "/v1/models", timeout=30).json()["data"]
    assert sorted(name for name, _ in listed) == sorted(m["id"] for m in served), (listed, served)
    assert sorted(kind for _, kind in listed) == ["embedding", "reranker"], listed
    assert visible(browser, "similarity") and visible(browser, "rerank")
    browser.type_into("docs", "\n".join(documents))
    check("with the key it lists " + ", ".join(f"{name} ({kind})" for name, kind in listed) + " and shows both buttons")

    # 3. Embed and compare: hold the request in the browser to see the busy state, then compare with the API.
    browser.send("Fetch.enable", patterns=[{"urlPattern": "*/v1/embeddings*"}])
    browser.click("similarity")
    held = browser.wait_event("Fetch.requestPaused")
    busy = browser.evaluate("[document.body.getAttribute('aria-busy'), document.getElementById('similarity').disabled,"
                            " document.getElementById('rerank').disabled, document.getElementById('status').textContent]")
    assert busy[:3] == ["true", True, True] and busy[3].startswith("Embedding"), busy
    browser.screenshot("2-busy")
    browser.send("Fetch.continueRequest", requestId=held["requestId"])
    browser.send("Fetch.disable")  # lets the documents' request (and any it already held) through
    browser.wait_for("document.querySelector('#ranking[data-kind=\"cosine similarity\"]') && document.body.getAttribute('aria-busy') === 'false'",
                     "the similarity results")
    rows = ranking(browser)
    q = api.post(full_url + "/v1/embeddings", json={"input": query, "prompt_name": "query"}, timeout=60).json()["data"][0]["embedding"]
    d = api.post(full_url + "/v1/embeddings", json={"input": documents}, timeout=60).json()["data"]
    cosines = [sum(x * y for x, y in zip(item["embedding"], q)) for item in d]
    order = sorted(range(len(documents)), key=lambda i: (-cosines[i], i))
    assert [r["index"] for r in rows] == order, (rows, cosines)
    assert all(abs(r["score"] - cosines[r["index"]]) <= 1e-6 for r in rows), (rows, cosines)
    assert [r["shown"] for r in rows] == [f"{cosines[i]:.4f}" for i in order] and [r["text"] for r in rows] == [documents[i] for i in order]
    assert browser.evaluate("document.querySelector('#ranking th.score').textContent") == "cosine similarity"
    assert fits(browser) and not visible(browser, "error")
    browser.screenshot("3-similarity")
    check("Embed and compare: busy while the request runs, then " + ", ".join(f"#{r['index']} {r['shown']}" for r in rows)
          + " = the API's cosines, best first")

    # 4. Rerank: the reranker's probabilities, as /v1/rerank orders them.
    browser.click("rerank")
    browser.wait_for("document.querySelector('#ranking[data-kind=\"relevance probability\"]') && document.body.getAttribute('aria-busy') === 'false'",
                     "the rerank results")
    rows = ranking(browser)
    answer = api.post(full_url + "/v1/rerank", json={"query": query, "documents": documents}, timeout=60).json()["results"]
    assert [r["index"] for r in rows] == [a["index"] for a in answer], (rows, answer)
    assert [r["score"] for r in rows] == [a["relevance_score"] for a in answer], (rows, answer)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert all(0 < r["score"] < 1 for r in rows)
    assert "probability" in browser.evaluate("document.getElementById('explanation').textContent")
    assert fits(browser)
    browser.screenshot("4-rerank")
    check("Rerank: " + ", ".join(f"#{r['index']} {r['shown']}" for r in rows) + " = /v1/rerank, best first")

    # 5. Only an embedding model: no rerank button; a 422 is shown as a readable, wrapped sentence.
    browser.open(embed_only_url + "/")
    browser.wait_for("document.body.dataset.models === 'loaded'", "the model list")
    assert visible(browser, "similarity") and not visible(browser, "rerank")
    kinds = browser.evaluate("[...document.querySelectorAll('#models .kind')].map(k => k.textContent)")
    assert kinds == ["embedding"], kinds
    check("embedding-only server: the rerank button is hidden, the embed button shown")
    browser.type_into("docs", "\n".join(documents))  # four documents, over this server's limit of two
    browser.click("similarity")
    browser.wait_for("document.getElementById('error').textContent && document.body.getAttribute('aria-busy') === 'false'",
                     "the error message")
    message = browser.evaluate("document.getElementById('error').textContent")
    assert message.startswith("The server answered 422: ") and "{" not in message, message
    assert visible(browser, "error") and fits(browser)
    browser.screenshot("5-error")
    check(f"a 422 reads \"{message}\" (wrapped, no JSON)")
finally:
    browser.close()

print(f"browser: screenshots in {artifacts}")
if "BROWSER_STARTED" in os.environ:  # run.sh's start, so the time includes installs, build and servers
    print(f"browser: took {int(time.time()) - int(os.environ['BROWSER_STARTED'])} s")
print(f"browser: {passed} passed, 0 failed")
