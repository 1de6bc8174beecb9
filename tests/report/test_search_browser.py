"""The real token search (report.js over a real index) in headless Chromium, opened from disk, no devtools:
tests/report/search_page.py types queries and reads the page back with `chromium --dump-dom`.

Without Debian's `chromium` the test is skipped with the reason shown, except under CI=true, where a missing
browser is a failure. The full report page is checked in a browser by test_browser.py.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from report.write import search_index
from report.write.search_index import decode
from tests.planted import HOSTILE
from tests.report.search_page import CHROMIUM, fake_ctx, full_ctx, page_html, run

TOKENS = 70_000  # ids past 65,535: 32-bit id columns
SHOWN = 69_000  # the rows kept (MAX_ROWS lowered), so the page must say tokens were cut
EXCEPTION = (66_000, 20)  # a token past 65,535 and the token it predicts
QUERIES = ["#66000", "#7", HOSTILE[0], "tok6899", "qqqqzzzz", "#69500", "", "#3"]


def _needs_chromium() -> None:
    if Path(CHROMIUM).is_file() or shutil.which(CHROMIUM):
        return
    reason = f"no Chromium at {CHROMIUM}: sudo apt-get install chromium (or set CHROMIUM=/path/to/it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser checks must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The index of a planted vocabulary, and what the page showed for each of QUERIES."""
    _needs_chromium()
    exceptions = (SimpleNamespace(token_id=5, predicts_id=9),
                  SimpleNamespace(token_id=EXCEPTION[0], predicts_id=EXCEPTION[1]))
    neighbours = {7: ((1, 0.875), (EXCEPTION[0], -0.25)), 3: ((2, 0.5),), 66_001: ((4, 0.1),)}
    ctx = fake_ctx(TOKENS, unigram=SimpleNamespace(dim=2), zero_layer=SimpleNamespace(exceptions=exceptions),
                   outliers=SimpleNamespace(neighbours=neighbours))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search_index, "MAX_ROWS", SHOWN)
        patch.setattr(search_index, "MAX_NEIGHBOUR_ROWS", 2)
        index = search_index.build(ctx)
    page = tmp_path_factory.mktemp("search") / "search.html"
    page.write_text(page_html(index, QUERIES), encoding="utf-8")
    shown = run(page)
    return index, dict(zip(QUERIES, shown["answers"])), shown


def _shown(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


def test_search_box_appears_and_says_what_is_cut(searched):
    _, _, shown = searched
    assert shown["visible"]
    assert "covers tokens 0\u201368,999 of 70,000" in shown["hint"]
    assert "kept for the 2 lowest ids of the 3 tokens" in shown["hint"]


def test_card_shows_the_decoded_numbers(searched):
    index, answers, _ = searched
    for query, token_id in (("#66000", 66_000), ("#7", 7)):
        answer = answers[query]
        assert answer["hits"] == [token_id] and answer["head"] == index["text"][token_id]
        fields = answer["fields"]
        columns = {"norm": index["norm"], "unigram": index["unigram"]["values"],
                   **{f"svd{c}": index["svd"][c] for c in range(3)}}
        for field, column in columns.items():
            assert float(fields[field]) == _shown(decode(column)[token_id], index["digits"]), field


def test_card_shows_prediction_and_neighbours(searched):
    _, answers, _ = searched
    assert answers["#66000"]["fields"]["predicts"] == f"\u2192 tok{EXCEPTION[1]} #{EXCEPTION[1]}"
    assert answers["#7"]["fields"]["predicts"] == "itself"
    assert answers["#7"]["neighbours"] == [1, EXCEPTION[0]]
    assert "cos 0.875" in answers["#7"]["fields"]["neighbours"] and "cos -0.25" in answers["#7"]["fields"]["neighbours"]
    assert answers["#3"]["neighbours"] == [2]
    assert answers["#66000"]["fields"]["neighbours"] == "not listed for this token"


def test_substring_search_ranks_and_stops(searched):
    _, answers, _ = searched
    assert answers[HOSTILE[0]]["head"] == HOSTILE[0] and answers[HOSTILE[0]]["hits"][0] == 0
    hits = answers["tok6899"]["hits"]
    assert hits[0] == 6899 and hits[1:] == list(range(68_990, SHOWN))  # then those starting with it, up to SHOWN
    assert answers["qqqqzzzz"]["hits"] == [] and answers[""]["hits"] == []
    assert answers["#69500"]["hits"] == []  # past the rows kept


def test_a_256k_vocabulary_is_searched_in_under_a_second(tmp_path):
    """Gemma's vocabulary size with every column: the index decodes, and each query (by id, a common
    substring, one that matches nothing, a CJK character) is answered, within a second each."""
    _needs_chromium()
    index = search_index.build(full_ctx(256_000))
    page = tmp_path / "search.html"
    page.write_text(page_html(index, ["#255999", "the", "qqqqzz", "的"]), encoding="utf-8")
    shown = run(page)
    assert shown["hint"] == "Type part of a token."  # nothing cut
    assert shown["answers"][0]["hits"] == [255_999] and shown["answers"][2]["hits"] == []
    assert len(shown["answers"][3]["hits"]) == 40
    assert 0 < shown["decode_ms"] < 1000
    assert all(math.isfinite(a["ms"]) and a["ms"] < 1000 for a in shown["answers"])


def test_half_float_columns_decode_in_the_page(tmp_path, monkeypatch):
    """The page reads the smaller f16 layout too (3 digits shown), scale and sign included."""
    _needs_chromium()
    monkeypatch.setattr(search_index, "NUMBER_TYPE", "f16")
    ctx = fake_ctx(300)
    ctx.earlier("svd").coordinates[:, 1] *= -1e6  # a column past float16's range before scaling
    index = search_index.build(ctx)
    page = tmp_path / "search.html"
    page.write_text(page_html(index, ["#17"]), encoding="utf-8")
    fields = run(page)["answers"][0]["fields"]
    assert index["digits"] == 3 and index["svd"][1]["type"] == "f16"
    for field, column in (("norm", index["norm"]), ("svd1", index["svd"][1])):
        assert float(fields[field]) == _shown(decode(column)[17], 3), field
