"""A bare page holding only the token search (the report's markup ids, the real index and report.js), run in
headless Chromium without devtools: a harness script types queries after the page's own script started,
and writes what the search showed, and its timings, into the DOM, which `chromium --dump-dom` prints.

Also the measurement of docs/report.md (sizes and timings at 50k and 256k tokens)::

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.report.search_page [--tokens 50257 256000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from report.write import render, search_index
from tests.planted import HOSTILE

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--allow-file-access-from-files"]

# Runs on DOMContentLoaded after report.js (registered later), types each query, reads the card back.
HARNESS = """
document.addEventListener("DOMContentLoaded", function () {
  var input = document.getElementById("tok-query"), box = document.getElementById("tok-search"), answers = [];
  var loaded = performance.now();
  input.dispatchEvent(new Event("focus"));
  var ready = performance.now();
  QUERIES.forEach(function (query) {
    input.value = query;
    var started = performance.now();
    input.dispatchEvent(new Event("input"));
    var took = performance.now() - started, fields = {};
    document.querySelectorAll("#tok-card [data-field]").forEach(function (dd) {
      fields[dd.getAttribute("data-field")] = dd.textContent;
    });
    answers.push({ query: query, ms: took, query_ms: Number(box.getAttribute("data-query-ms")),
      hits: Array.prototype.map.call(document.querySelectorAll("#tok-results button"),
                                     function (b) { return Number(b.getAttribute("data-id")); }),
      head: (document.querySelector("#tok-card .head .tok") || {}).textContent || null,
      neighbours: Array.prototype.map.call(document.querySelectorAll("#tok-card [data-field=neighbours] .tok"),
                                           function (c) { return Number(c.getAttribute("data-id")); }),
      fields: fields });
  });
  document.getElementById("harness").textContent = JSON.stringify({
    visible: !box.hidden, hint: document.getElementById("tok-hint").textContent,
    content_loaded_ms: loaded, ready_ms: ready, decode_ms: Number(box.getAttribute("data-decode-ms")),
    answers: answers });
});
"""


def fake_ctx(n: int, d: int = 16, seed: int = 0, **results):
    """A stand-in context of `n` tokens "tok0", "tok1", … (the first ones hostile) with SVD results; other
    section results as keyword arguments (search_index.READER declares all of them optional)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(0, 0.1, (n, d))
    display = [f"tok{i}" for i in range(n)]
    display[: len(HOSTILE)] = list(HOSTILE)
    svd = SimpleNamespace(norms=np.linalg.norm(embeddings, axis=1), coordinates=rng.normal(0, 1, (n, 3)))
    results = {"svd": svd, **results}
    return SimpleNamespace(n_tokens=n, tokens=SimpleNamespace(display=tuple(display)), embeddings=embeddings,
                           earlier=results.get)


def _words(rng: np.random.Generator, n: int) -> list[str]:
    """Mostly Latin, some Cyrillic and CJK; 1–11 characters; 60 % after a word-start ␣."""
    alphabets = ["abcdefghijklmnopqrstuvwxyz"] * 6 + ["абвгдежзиклмнопрст", "的一是不了人我在有他这中大来上个国"]
    which, lengths, spaced = rng.integers(len(alphabets), size=n), rng.integers(1, 12, size=n), rng.random(n) < 0.6
    letters = rng.random((n, 11))
    words = []
    for k in range(n):
        alphabet = alphabets[which[k]]
        text = "".join(alphabet[int(x * len(alphabet))] for x in letters[k, :lengths[k]])
        words.append("\u2423" + text if spaced[k] else text)
    return words


def full_ctx(n: int, d: int = 64, seed: int = 0):
    """Every column present, token texts shaped like a multilingual vocabulary (mostly Latin, some Cyrillic
    and CJK, 60 % after a word-start ␣, 1–11 characters), 3 % zero-layer exceptions, 512 tokens with
    neighbours (the outliers section's most)."""
    rng = np.random.default_rng(seed)
    words = _words(rng, n)
    exceptions = tuple(SimpleNamespace(token_id=int(i), predicts_id=int(rng.integers(n)))
                       for i in np.sort(rng.choice(n, size=n * 3 // 100, replace=False)))
    notable = np.sort(rng.choice(n, size=min(n, 512), replace=False))
    neighbours = {int(i): tuple((int(j), float(c)) for j, c in zip(rng.integers(0, n, 5), -np.sort(-rng.random(5))))
                  for i in notable}
    ctx = fake_ctx(n, d, seed, unigram=SimpleNamespace(dim=3), zero_layer=SimpleNamespace(exceptions=exceptions),
                   outliers=SimpleNamespace(neighbours=neighbours))
    ctx.tokens.display = tuple(list(HOSTILE) + words[len(HOSTILE):])
    return ctx


def page_html(index: dict, queries: list[str]) -> str:
    """The search markup of templates/report.html.j2, the index as the report embeds it, report.js, harness."""
    return "\n".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>search</title></head><body>',
        '<div class="tok-search" id="tok-search" hidden>',
        '<input id="tok-query" type="search"><p class="tok-hint" id="tok-hint">Type part of a token.</p>',
        '<ol class="tok-results" id="tok-results"></ol><div class="tok-card" id="tok-card"></div></div>',
        '<main><p>See <code class="tok" data-id="3">tok3</code>.</p></main><pre id="harness"></pre>',
        f'<script type="application/json" id="token-index">{render.json_script(index)}</script>',
        f"<script>{render.asset('report.js')}</script>",
        f"<script>var QUERIES = {render.json_script(queries)};{HARNESS}</script>",
        "</body></html>"])


class _HarnessText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inside = False
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.inside = dict(attrs).get("id") == "harness"

    def handle_endtag(self, tag):
        self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.text += data


def run(page: Path, timeout: float = 60) -> dict:
    """Open `page` from disk in headless Chromium; what the harness wrote (raises if it wrote nothing)."""
    done = subprocess.run([CHROMIUM, *CHROMIUM_ARGS, "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=timeout, check=False)
    parser = _HarnessText()
    parser.feed(done.stdout)
    if not parser.text:
        raise RuntimeError(f"the harness wrote nothing (chromium exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(parser.text)


def measure(tokens: int, runs: int, folder: Path) -> dict:
    """HTML size of the index and the median timings of `runs` page loads, for a `tokens`-token vocabulary."""
    index = search_index.build(full_ctx(tokens))
    queries = ["#" + str(tokens - 1), "the", "qqqqzz", "的"]  # by id, common substring, no match, CJK
    page = folder / f"search-{tokens}.html"
    page.write_text(page_html(index, queries), encoding="utf-8")
    results = [run(page, timeout=120) for _ in range(runs)]
    answers = [max(a["ms"] for a in r["answers"]) for r in results]
    return {"tokens": tokens, "index_bytes": len(str(render.json_script(index)).encode("utf-8")),
            "page_bytes": page.stat().st_size,
            "content_loaded_ms": statistics.median(r["content_loaded_ms"] for r in results),
            "decode_ms": statistics.median(r["decode_ms"] for r in results),
            "ready_ms": statistics.median(r["ready_ms"] for r in results),
            "slowest_query_ms": statistics.median(answers)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Size and speed of the token search in headless Chromium.")
    parser.add_argument("--tokens", type=int, nargs="+", default=[50_257, 256_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for tokens in args.tokens:
            print(json.dumps(measure(tokens, args.runs, Path(folder))))


if __name__ == "__main__":
    main()
