"""The token search index: built from whatever sections ran, decodes back to the results within the stated
precision, safe to embed, bounded in size, deterministic."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from report.write import render, search_index
from report.write.search_index import decode
from tests.planted import HOSTILE
from tests.report.search_page import fake_ctx, full_ctx


def _close(decoded: np.ndarray, exact, relative_error: float) -> bool:
    exact = np.asarray(exact, dtype=np.float64)
    finite = np.isfinite(exact)
    return bool(np.array_equal(np.isnan(decoded), ~finite)
                and np.all(np.abs(decoded[finite] - exact[finite]) <= relative_error * np.abs(exact[finite])))


def test_only_what_exists():
    index = search_index.build(fake_ctx(50))
    assert index["version"] == 2 and index["rows"] == index["tokens"] == 50
    assert len(index["text"]) == len(decode(index["norm"])) == 50 and len(index["svd"]) == 3
    assert index["unigram"] is None and index["zero_layer"] is None and index["neighbours"] is None


def test_planted_vocabulary_round_trips():
    """Past 65,536 tokens (so ids need 32 bits), every column decodes to the section's numbers within the
    stated relative error, and the exceptions and neighbours to the planted ids."""
    ctx = full_ctx(70_000)
    index = search_index.build(ctx)
    svd, error = ctx.earlier("svd"), index["relative_error"]
    assert index["text"] == list(ctx.tokens.display) and index["text"][: len(HOSTILE)] == list(HOSTILE)
    assert _close(decode(index["norm"]), svd.norms, error)
    for c in range(3):
        assert _close(decode(index["svd"][c]), svd.coordinates[:, c], error)
    assert index["unigram"]["dim"] == 3 and _close(decode(index["unigram"]["values"]), ctx.embeddings[:, 3], error)
    exceptions = ctx.earlier("zero_layer").exceptions
    zero = index["zero_layer"]
    assert zero["ids"]["type"] == "u32"
    assert decode(zero["ids"]).tolist() == [e.token_id for e in exceptions]
    assert decode(zero["predicts"]).tolist() == [e.predicts_id for e in exceptions]
    table, near = ctx.earlier("outliers").neighbours, index["neighbours"]
    ids, start, neighbour, cosine = (decode(near[key]) for key in ("ids", "start", "near", "cosine"))
    assert ids.tolist() == sorted(table) and near["listed"] == len(table) and near["k"] == 5
    for j, token_id in enumerate(ids):
        planted = table[int(token_id)]
        assert neighbour[start[j]:start[j + 1]].tolist() == [n for n, _ in planted]
        assert _close(cosine[start[j]:start[j + 1]], [c for _, c in planted], error)


@pytest.mark.parametrize("kind", ["f32", "f16"])
def test_floats_keep_their_precision_at_any_scale(kind):
    rng = np.random.default_rng(3)
    error = search_index.RELATIVE_ERROR[kind]
    for scale in (1e-30, 1e-3, 1.0, 7e4, 1e30):
        values = scale * rng.lognormal(0, 1, 500) * rng.choice([-1, 1], 500)
        values[values.argmax()] = scale * 20  # no value below 2⁻²⁹ of the largest: f16's stated range
        column = search_index.floats(np.append(values, [np.nan, np.inf, -np.inf]), kind)
        assert column["type"] == kind
        assert _close(decode(column), np.append(values, [np.nan, np.nan, np.nan]), error)
    assert decode(search_index.floats([0.0, 0.0], kind)).tolist() == [0.0, 0.0]


def test_unsigned_widths():
    assert search_index.unsigned([0, 65_535])["type"] == "u16"
    assert decode(search_index.unsigned([3, 65_536, 2**32 - 1])).tolist() == [3, 65_536, 2**32 - 1]
    assert decode(search_index.unsigned([])).tolist() == []
    with pytest.raises(ValueError):
        search_index.unsigned([-1])


def test_repeated_and_out_of_range_entries():
    exceptions = (SimpleNamespace(token_id=7, predicts_id=3), SimpleNamespace(token_id=2, predicts_id=9),
                  SimpleNamespace(token_id=7, predicts_id=4), SimpleNamespace(token_id=99, predicts_id=1))
    neighbours = {5: tuple((i, 0.123456789) for i in range(10)), 1: ((4, float("nan")),), 77: ((1, 0.5),)}
    index = search_index.build(fake_ctx(20, zero_layer=SimpleNamespace(exceptions=exceptions),
                                        outliers=SimpleNamespace(neighbours=neighbours)))
    assert decode(index["zero_layer"]["ids"]).tolist() == [2, 7]
    assert decode(index["zero_layer"]["predicts"]).tolist() == [9, 3]
    near = index["neighbours"]
    assert decode(near["ids"]).tolist() == [1, 5] and near["listed"] == 2
    assert decode(near["start"]).tolist() == [0, 1, 1 + search_index.MAX_NEIGHBOURS]
    cosine = decode(near["cosine"])
    assert np.isnan(cosine[0]) and np.allclose(cosine[1:], 0.123456789, rtol=index["relative_error"])


def test_embedded_json_cannot_end_its_script_element():
    text = str(render.json_script(search_index.build(full_ctx(300))))
    assert not any(ch in text for ch in "<>&\u2028\u2029")
    assert json.loads(text)["text"][: len(HOSTILE)] == list(HOSTILE)


@pytest.mark.parametrize("tokens, most_bytes", [(50_257, 2_500_000), (256_000, 12_000_000)])
def test_every_token_of_large_vocabularies_fits(tokens, most_bytes):
    """No token is cut at Llama-3's or Gemma's vocabulary size, and the embedded index stays within a
    bound (about 40 bytes a token with every column: see docs/report.md); same weights, same bytes."""
    ctx = full_ctx(tokens)
    index = search_index.build(ctx)
    assert index["rows"] == index["tokens"] == tokens and len(decode(index["svd"][2])) == tokens
    text = str(render.json_script(index))
    assert len(text.encode("utf-8")) < most_bytes
    assert text == str(render.json_script(search_index.build(ctx)))


def test_rows_and_neighbour_rows_are_capped(monkeypatch):
    monkeypatch.setattr(search_index, "MAX_ROWS", 100)
    monkeypatch.setattr(search_index, "MAX_NEIGHBOUR_ROWS", 3)
    neighbours = {i: ((i + 1, 0.5),) for i in (90, 10, 40, 60, 150)}
    index = search_index.build(fake_ctx(250, outliers=SimpleNamespace(neighbours=neighbours)))
    assert index["rows"] == 100 and index["tokens"] == 250
    assert len(index["text"]) == len(decode(index["norm"])) == len(decode(index["svd"][0])) == 100
    assert decode(index["neighbours"]["ids"]).tolist() == [10, 40, 60] and index["neighbours"]["listed"] == 4


def test_the_pdf_is_rendered_without_the_index():
    index = search_index.build(full_ctx(300))
    html = (f'<p>a</p><script type="application/json" id="token-index">{render.json_script(index)}</script>'
            "<script>var x = 1;</script>")
    assert render.without_search_index(html) == "<p>a</p><script>var x = 1;</script>"
