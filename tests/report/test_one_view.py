"""One view of every number: each number a report page shows in a table cell or a key-number box is in
results.json, in the section's own fragment (or the model card, the claims, the top-level entries)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from html.parser import HTMLParser

from report.sections import all_sections
from report.write.results_json import plain

# Sections whose page numbers are checked against their own results.json fragment. The summary gathers
# other sections' numbers, so it is checked against the whole document.
WHOLE_DOCUMENT = {"summary"}
CELLS = {"td"}
NUMBER = re.compile(r"(?<![\w.])([-−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)(%?)")


def _skipped(tag: str, classes: set[str]) -> bool:
    """Text that holds no measured number: token strings, hashes, figures, and rule texts (a claim's rule
    and detail are strings in results.json's claims)."""
    return tag == "code" and "tok" in classes or tag == "figure" or bool(classes & {"hash", "rule"})


class _Numbers(HTMLParser):
    """Texts of <td> cells and key-number boxes (`.key-numbers b`), by section id; what `_skipped` names and
    the claims tables' claim numbers left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.section: str | None = None
        self.stack: list[tuple[str, set[str]]] = []
        self.cells: list[tuple[str, str]] = []  # (section, text)
        self._text: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "section" and "section" in classes:
            self.section = dict(attrs).get("id")
        if _skipped(tag, classes):
            self._skip += 1
        in_box = tag == "b" and any("key-numbers" in c for _, c in self.stack)
        first_claim_cell = tag == "td" and self._claim_number_cell()
        self.stack.append((tag, classes))
        if (tag in CELLS and not first_claim_cell) or in_box:
            self._text = []

    def _claim_number_cell(self) -> bool:
        """The "#" column of a claims table: a claim number, not a measured one."""
        tables = [c for t, c in self.stack if t == "table"]
        return bool(tables) and "claims" in tables[-1] and self.stack[-1][0] == "tr" and self._row_cells == 0

    _row_cells = 0

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, classes = self.stack.pop()
            if _skipped(open_tag, classes):
                self._skip -= 1
            if open_tag == tag:
                break
        if (tag in CELLS or tag == "b") and self._text is not None:
            self.cells.append((self.section, "".join(self._text)))
            self._text = None
        if tag == "td":
            self._row_cells += 1
        if tag == "tr":
            self._row_cells = 0

    def handle_data(self, data):
        if self._text is not None and not self._skip:
            self._text.append(data)


def shown_numbers(html: str) -> list[tuple[str, str, float, bool, bool]]:
    """(section, shown text, value, is a percentage, is an integer) for each number in a cell or box."""
    parser = _Numbers()
    parser.feed(html)
    found = []
    for section, text in parser.cells:
        if "<" in text or "±" in text:  # p-value floors ("< 0.001") and bounds are not measured values
            text = re.sub(r"[<±]\s*\S+", "", text)
        for match in NUMBER.finditer(text):
            shown, percent = match.group(1), match.group(2) == "%"
            value = float(shown.replace(",", "").replace("−", "-"))
            integer = not percent and re.fullmatch(r"[-−]?\d[\d,]*", shown) is not None
            found.append((section, shown, value, percent, integer))
    return found


def numeric_leaves(value) -> list[float]:
    """Every number in a results.json value, including those written inside its strings (a detail the page
    shows verbatim)."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in numeric_leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in numeric_leaves(v)]
    if isinstance(value, str):
        return [float(m.group(1).replace(",", "").replace("−", "-")) for m in NUMBER.finditer(value)]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    return [float(value)]


def _decimals(shown: str) -> int:
    mantissa = shown.split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def matches(shown: str, value: float, percent: bool, integer: bool, candidates: list[float]) -> bool:
    """Whether some candidate, formatted as the page formats it, reads as `shown`: within half a unit of the
    last digit shown (a percentage is a fraction times 100)."""
    exponent = int(shown.split("e")[1]) if "e" in shown else 0
    half_unit = 0.5 * 10.0 ** (exponent - _decimals(shown)) * (1 + 1e-9)
    for candidate in candidates:
        c = 100 * candidate if percent else candidate
        if abs(c - value) <= half_unit + 1e-12 * abs(value):
            return True
        if integer and not percent and c == value:
            return True
    return False


def pool_for(results: dict, section: str) -> list[float]:
    keys = {s.key: s.json_key or s.key for s in all_sections()}
    if section in WHOLE_DOCUMENT:
        return numeric_leaves(results)
    own = results["analyses"].get(keys.get(section, section), {})
    shared = {k: v for k, v in results.items() if k not in {"analyses", "provenance", "schema_version"}}
    return numeric_leaves(own) + numeric_leaves(shared)


def missing_numbers(html: str, results: dict) -> list[tuple[str, str]]:
    pools: dict[str, list[float]] = {}
    missing = []
    for section, shown, value, percent, integer in shown_numbers(html):
        if section is None or not math.isfinite(value):  # the title page shows the model card
            continue
        pool = pools.setdefault(section, pool_for(results, section))
        if not matches(shown, value, percent, integer, pool):
            missing.append((section, shown))
    return missing


def test_every_number_shown_is_in_results_json(built_report):
    html = built_report.html.read_text(encoding="utf-8")
    results = json.loads((built_report.folder / "results.json").read_text(encoding="utf-8"))
    assert len(shown_numbers(html)) > 100  # the parser found the tables and boxes
    assert missing_numbers(html, results) == []


def test_a_number_missing_from_results_json_is_caught():
    html = ('<section class="section" id="zero_layer"><table><tr><td>0.123</td><td>1,234</td></tr></table>'
            '<div class="key-numbers"><div><b>12.5%</b></div></div></section>')
    results = {"analyses": {"zero_layer": {"a": 0.1234, "b": 1234}}, "claims": []}
    assert missing_numbers(html, results) == [("zero_layer", "12.5")]
    results["analyses"]["zero_layer"]["c"] = 0.12549
    assert missing_numbers(html, results) == []


def test_tokens_have_one_shape_in_results_json(built_report):
    results = json.loads((built_report.folder / "results.json").read_text(encoding="utf-8"))
    shapes = set()

    def walk(value):
        if isinstance(value, dict):
            if "token_id" in value or isinstance(value.get("token"), str) or "text" in value and "id" in value:
                shapes.add(tuple(sorted(k for k in value if k in {"id", "token_id", "token", "text", "bytes"})))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(results)
    assert shapes == {("bytes", "id", "text")}


def _numbers(value) -> list:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _shared(section, ctx) -> list:
    """Numbers of results.json's top-level entries a page may show beside its own fragment, as `pool_for` allows:
    the claims (the checklist's rows) and the section's own top-level entries (the open questions' experiments)."""
    own = section.top_level(ctx.results[section.key], ctx.for_section(section)) if section.top_level else {}
    return _numbers(plain(list(ctx.results["claims"]))) + _numbers(own)


def _presentation(section, ctx) -> tuple[dict, dict]:
    """A section's context, split into its to_json fragment and the rest."""
    context = dict(section.context(ctx.results[section.key], ctx.for_section(section)))
    return context.pop("j"), context


def test_every_section_shows_only_its_fragment(planted_ctx, unplanted_ctx):
    """Every section's template reads its numbers from `j`, its to_json fragment. Beside it, a section's context
    holds no result object and no number of its own: each is either copied from the fragment or a constant (the
    same for two unrelated models)."""
    sections = {s.key: s for s in all_sections()}
    for key, section in sections.items():
        j, rest = _presentation(section, planted_ctx)
        _, other_rest = _presentation(section, unplanted_ctx)
        assert j == section.to_json(planted_ctx.results[key], planted_ctx.for_section(section))
        assert not any(dataclasses.is_dataclass(v) for v in rest.values()), key  # no result object to read
        constants = set(_numbers(other_rest))
        from_fragment = set(_numbers(j)) | set(_shared(section, planted_ctx))
        own = [x for x in _numbers(rest) if x not in from_fragment and x not in constants]
        assert own == [], (key, own[:5])
