"""The token search index: built from whatever sections ran, safe to embed, bounded in size, deterministic."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from report import render, search_index
from tests.planted import HOSTILE


def fake_ctx(n: int, d: int = 16, seed: int = 0, **results):
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(0, 0.1, (n, d))
    display = [f"tok{i}" for i in range(n)]
    display[: len(HOSTILE)] = list(HOSTILE)
    svd = SimpleNamespace(norms=np.linalg.norm(embeddings, axis=1), coordinates=rng.normal(0, 1, (n, 3)))
    results = {"svd": svd, **results}
    return SimpleNamespace(n_tokens=n, tokens=SimpleNamespace(display=tuple(display)), embeddings=embeddings,
                           earlier=results.get)  # stand-in results: search_index.READER declares all optional


def test_only_what_exists():
    index = search_index.build(fake_ctx(50))
    assert index["rows"] == index["tokens"] == 50
    assert len(index["text"]) == len(index["norm"]) == 50 and len(index["svd"]) == 3
    assert index["unigram"] is None and index["zero_layer"] is None and index["neighbours"] is None


def test_every_column_when_every_section_ran():
    exceptions = (SimpleNamespace(token_id=7, predicts_id=3), SimpleNamespace(token_id=2, predicts_id=9))
    neighbours = {5: tuple((i, 0.123456789) for i in range(10)), 1: ((4, float("nan")),)}
    ctx = fake_ctx(20, unigram=SimpleNamespace(dim=4), zero_layer=SimpleNamespace(exceptions=exceptions),
                   outliers=SimpleNamespace(neighbours=neighbours))
    index = search_index.build(ctx)
    assert index["unigram"]["dim"] == 4
    assert np.allclose(index["unigram"]["values"], ctx.embeddings[:, 4], rtol=1e-3, atol=1e-12)
    assert index["zero_layer"]["exceptions"] == [[2, 9], [7, 3]]
    assert index["neighbours"]["k"] == search_index.MAX_NEIGHBOURS
    assert index["neighbours"]["rows"]["5"][0] == [0, 0.1235]
    assert index["neighbours"]["rows"]["1"] == [[4, None]]
    assert list(index["neighbours"]["rows"]) == ["1", "5"]


def test_embedded_json_cannot_end_its_script_element():
    text = str(render.json_script(search_index.build(fake_ctx(30))))
    assert not any(ch in text for ch in "<>&\u2028\u2029")
    assert json.loads(text)["text"][: len(HOSTILE)] == list(HOSTILE)


def test_bounded_for_a_gpt2_sized_vocabulary():
    n = 50_257
    neighbours = {i: tuple((int(j), 0.5 + j / 1e6) for j in range(i, i + 8)) for i in range(0, n, 2)}
    ctx = fake_ctx(n, d=64, unigram=SimpleNamespace(dim=5),
                   zero_layer=SimpleNamespace(exceptions=tuple(SimpleNamespace(token_id=i, predicts_id=i + 1)
                                                               for i in range(0, n, 10))),
                   outliers=SimpleNamespace(neighbours=neighbours))
    text = str(render.json_script(search_index.build(ctx)))
    assert len(text.encode("utf-8")) < 4_000_000
    assert text == str(render.json_script(search_index.build(ctx)))  # deterministic


def test_rows_are_capped_for_huge_vocabularies(monkeypatch):
    monkeypatch.setattr(search_index, "MAX_ROWS", 100)
    index = search_index.build(fake_ctx(250))
    assert index["rows"] == 100 and index["tokens"] == 250
    assert len(index["text"]) == len(index["norm"]) == len(index["svd"][0]) == 100
