"""The HTML report in a real browser (headless Chromium through Playwright), opened from disk.

Needs Debian's `chromium` and the `playwright` Python package (no browser download: Playwright drives the
system Chromium). Without them the browser tests are skipped with the reason shown — except under CI=true,
where a missing browser is a failure. The static checks at the top run everywhere.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SEARCHED = "龍喚士"  # a planted token with CJK glyphs
HOSTILE = "<script>alert(1)</script>"


# ---- static checks: no browser needed ------------------------------------------------------------------

class _Refs(HTMLParser):
    """Every URL-bearing attribute, and the text of the JSON index."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.in_index = False
        self.index_text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            if attrs.get(name):
                self.urls.append((tag, name, attrs[name]))
        self.in_index = tag == "script" and attrs.get("id") == "token-index"

    def handle_endtag(self, tag):
        self.in_index = False

    def handle_data(self, data):
        if self.in_index:
            self.index_text += data


@pytest.fixture(scope="module")
def html_text(built_report) -> str:
    return built_report.html.read_text(encoding="utf-8")


def test_no_external_references(html_text):
    refs = _Refs()
    refs.feed(html_text)
    for tag, name, url in refs.urls:
        assert url.startswith(("#", "data:")), f"<{tag} {name}={url[:60]!r}> is not inside the page"
    assert not re.search(r"url\(\s*['\"]?(?!data:|#)", html_text), "a CSS url() that is not a data URI"
    assert "@import" not in html_text
    assert not re.search(r"<(link|iframe|object|embed|base)\b", html_text, re.I)


def test_token_index_cannot_break_out(html_text):
    """A token such as </script> stays inside the JSON block; the block parses back to the real strings."""
    refs = _Refs()
    refs.feed(html_text)
    assert refs.index_text, "no token index in the page"
    assert not re.search(r"[<>&]", refs.index_text)
    data = json.loads(refs.index_text)
    assert HOSTILE in data["text"] and SEARCHED in data["text"]
    assert html_text.count("</script>") == html_text.count("<script")


# ---- Chromium --------------------------------------------------------------------------------------------

def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser checks must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[test]'")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM}: sudo apt-get install chromium (or set CHROMIUM=/path/to/it)")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # a broken install is reported like a missing one
            _missing(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield chromium
        chromium.close()


class Page:
    """A loaded report page and everything it said or asked for while loading."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.context.route("**/*", self._only_local)
        self.page.goto(url, wait_until="load")

    def _only_local(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def page(browser, built_report):
    loaded = Page(browser, built_report.html.resolve().as_uri())
    yield loaded
    loaded.close()


def test_loads_without_errors_or_network(page):
    assert page.page.title().startswith("Weights report")
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.outside == [], "the page asked for something outside itself"
    assert page.page.locator("#tok-search").is_visible(), "the search box stayed hidden: the script did not run"


def test_every_image_decodes(page):
    sizes = page.page.evaluate("""async () => {
        const images = Array.from(document.images);
        await Promise.all(images.map(i => i.decode().catch(() => null)));
        return images.map(i => [i.alt, i.naturalWidth, i.naturalHeight]);
    }""")
    assert sizes, "no figures in the page"
    for alt, width, height in sizes:
        assert width > 0 and height > 0, f"figure did not decode: {alt[:60]}"


def test_figures_numbered_in_reading_order(page):
    numbers = page.page.eval_on_selector_all(
        "figure .fig-no", "nodes => nodes.map(n => parseInt(n.textContent.replace('Figure', ''), 10))")
    assert numbers == list(range(1, len(numbers) + 1))


def test_contents_links_resolve(page):
    targets = page.page.eval_on_selector_all(
        "nav.toc a[href^='#']",
        "links => links.map(a => [a.getAttribute('href'), "
        "!!document.getElementById(a.getAttribute('href').slice(1))])")
    sections = page.page.eval_on_selector_all("main section.section", "nodes => nodes.map(n => n.id)")
    assert sections and {f"#{s}" for s in sections} <= {href for href, _ in targets}
    assert [href for href, ok in targets if not ok] == []
    assert len(targets) > len(sections), "subsections were not added to the contents"


def test_contents_stays_in_view(page):
    page.page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    page.page.wait_for_timeout(100)
    box = page.page.locator("nav.toc").bounding_box()
    assert box is not None and box["y"] == 0, "the contents column scrolled away"
    assert page.page.locator("nav.toc a[aria-current='true']").count() >= 1
    page.page.evaluate("window.scrollTo(0, 0)")


def _true_norm(checkpoint: Path, token: str) -> float:
    vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
    from tests.planted import _bytes_to_unicode

    to_unicode = _bytes_to_unicode()
    key = "".join(to_unicode[b] for b in token.encode("utf-8"))
    weights = load_file(str(checkpoint / "model.safetensors"))
    row = weights.get("wte.weight", weights.get("transformer.wte.weight"))[vocab[key]]
    return float(np.linalg.norm(row.astype(np.float64)))


def test_token_search_finds_a_token_and_its_norm(page, built_report):
    p = page.page
    p.fill("#tok-query", SEARCHED)
    p.wait_for_selector("#tok-card [data-field=norm]")
    assert p.locator("#tok-results .tok").first.text_content() == SEARCHED
    assert p.locator("#tok-card .head .tok").text_content() == SEARCHED
    shown = float(p.locator("#tok-card [data-field=norm]").text_content())
    assert math.isclose(shown, _true_norm(built_report.checkpoint, SEARCHED), rel_tol=1e-3)
    for field in ("svd0", "svd1", "svd2"):
        assert p.locator(f"#tok-card [data-field={field}]").count() == 1


def test_token_search_shows_hostile_tokens_as_text(page):
    p = page.page
    p.fill("#tok-query", HOSTILE)
    p.wait_for_selector("#tok-card .head .tok")
    assert p.locator("#tok-card .head .tok").text_content() == HOSTILE
    assert page.dialogs == [], "a token string ran as script"
    assert p.evaluate("document.querySelectorAll('nav script, main script').length") == 0


def test_token_search_by_id_and_by_click(page):
    p = page.page
    p.fill("#tok-query", "#5")
    p.wait_for_selector("#tok-card .head")
    assert p.locator("#tok-card .head .muted").text_content() == "id 5"
    chip = p.locator("main .tok[data-id]").first
    token_id = chip.get_attribute("data-id")
    chip.click()
    assert p.locator("#tok-card .head .muted").text_content() == f"id {token_id}"
    p.fill("#tok-query", "")


def _column(p, table: int, column: int) -> list[float]:
    texts = p.evaluate(f"""() => Array.from(document.querySelectorAll('table.sortable')[{table}].tBodies[0].rows)
                           .map(r => r.cells[{column}].textContent.trim())""")
    values = []
    for t in texts:
        t = t.replace(",", "").replace("%", "").replace("×", "").replace("\u2212", "-").lstrip("<≤≥> ")
        try:
            values.append(float(t))
        except ValueError:
            values.append(math.nan)
    return values


def test_long_tables_sort(page):
    p = page.page
    tables = p.locator("table.sortable")
    assert tables.count() >= 1, "no table was made sortable"
    # find a numeric column with at least two distinct values
    for t in range(tables.count()):
        headers = tables.nth(t).locator("thead th")
        for c in range(headers.count()):
            before = _column(p, t, c)
            finite = [v for v in before if math.isfinite(v)]
            if len(finite) < len(before) * 0.8 or len(set(finite)) < 2:
                continue
            headers.nth(c).click()
            up = [v for v in _column(p, t, c) if math.isfinite(v)]
            assert up == sorted(up), f"table {t}, column {c} not ascending"
            assert headers.nth(c).get_attribute("aria-sort") == "ascending"
            headers.nth(c).click()
            down = [v for v in _column(p, t, c) if math.isfinite(v)]
            assert down == sorted(down, reverse=True)
            return
    pytest.fail("no sortable table has a numeric column")


def test_screenshot(page, artifacts):
    p = page.page
    p.evaluate("window.scrollTo(0, 0)")
    p.fill("#tok-query", SEARCHED)
    p.wait_for_selector("#tok-card [data-field=norm]")
    p.screenshot(path=str(artifacts / "report.png"))
    p.screenshot(path=str(artifacts / "report-full.png"), full_page=True)
    assert (artifacts / "report.png").stat().st_size > 10_000
