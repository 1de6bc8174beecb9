"""Published odd tokens are matched in the vocabulary, placed among this model's tokens, and the section
says plainly when the findings do not apply."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.literature import KNOWN, analyse_literature, applicability, match
from report.write.render import environment


def planted_lists(ctx) -> dict:
    outliers = ctx.results["outliers"]
    return {"clump": outliers.clump_token_ids, "longest": outliers.longest, "shortest": outliers.shortest,
            "exceptions": [e.token_id for e in ctx.results["zero_layer"].exceptions]}


def run_on(ctx, model_id: str):
    outliers = ctx.results["outliers"]
    return analyse_literature(model_id, ctx.tokens.data[: ctx.n_tokens], ctx.tokens.byte_level, outliers.norms,
                              outliers.centroid_distance, planted_lists(ctx))


def test_planted_tokens_are_found_when_the_model_is_gpt2(planted_ctx):
    r = run_on(planted_ctx, "openai-community/gpt2")
    assert r.applies
    found = {planted_ctx.tokens.data[f.token_id] for f in r.found}
    assert " BuyableInstoreAndOnline".encode() in found
    assert "ÃÂÃÂÃÂÃÂ".encode() in found
    for f in r.found:
        assert 0 <= f.norm_percentile <= 1 and 0 <= f.centroid_percentile <= 1
    buyable = next(f for f in r.found if planted_ctx.tokens.data[f.token_id] == " BuyableInstoreAndOnline".encode())
    assert {KNOWN[k].text for k in buyable.entries} == {"InstoreAndOnline", "BuyableInstoreAndOnline"}


def test_planted_checkpoint_is_not_gpt2(planted_ctx):
    r = planted_ctx.results["literature"]
    assert not r.applies
    assert "not GPT-2's" in r.reason
    assert r.found  # matching still runs, for reference


def test_overlap_counts_follow_our_lists(planted_ctx):
    outliers = planted_ctx.results["outliers"]
    target = next(i for i, data in enumerate(planted_ctx.tokens.data) if data == "ÃÂÃÂÃÂÃÂ".encode())
    lists = {"clump": (target,), "longest": (), "shortest": (), "exceptions": ()}
    r = analyse_literature("gpt2", planted_ctx.tokens.data[: planted_ctx.n_tokens], True, outliers.norms,
                           outliers.centroid_distance, lists)
    assert r.overlap["clump"] == (target,)
    assert next(f for f in r.found if f.token_id == target).in_clump


@pytest.mark.parametrize("model_id, n, byte_level, expected", [
    ("gpt2", 50257, True, True), ("distilgpt2", 50257, True, True), ("openai-community/gpt2-xl", 50257, True, True),
    ("my-local-model", 50257, True, True), ("bert-base-uncased", 30522, False, False),
    ("my-local-model", 612, True, False), ("my-local-model", 50257, False, False),
])
def test_applicability_rule(model_id, n, byte_level, expected):
    assert applicability(model_id, n, byte_level)[0] is expected


@pytest.mark.parametrize("token, entry_text, expected", [
    (b"rawdownloadcloneembedreportprint", "embedreportprint", True),
    (b" RandomRedditor", " RandomRedditor", True),
    (b"RandomRedditor", " RandomRedditor", True),
    (b"Random", " RandomRedditor", False),
])
def test_substring_match(token, entry_text, expected):
    entry = next(k for k in KNOWN if k.text == entry_text)
    assert match(entry, token) is expected


@pytest.mark.parametrize("text, expected", [
    ("ÃÂÃÂ", True), (" ÃÂÃÂÃÂ", True), ("ÃÂÃÂÃ", True), ("ÃÂ", False), ("Ã", False), ("ÃÂx", False),
])
def test_mojibake_match(text, expected):
    entry = next(k for k in KNOWN if k.pattern == "mojibake")
    assert match(entry, text.encode()) is expected


def test_no_known_tokens_in_an_unrelated_vocabulary():
    data = [b"alpha", b"beta", b"gamma"]
    norms = np.array([1.0, 2.0, 3.0])
    r = analyse_literature("some-model", data, False, norms, norms, {})
    assert not r.applies and r.found == () and np.isnan(r.median_centroid_percentile)


@pytest.mark.parametrize("model_id", ["gpt2", "not-this-family"])
def test_template_renders_both_ways(planted_ctx, model_id):
    from report.sections.literature import context

    r = run_on(planted_ctx, model_id)
    html = environment().get_template("sections/literature.html.j2").render(ctx=context(r, planted_ctx), figs=[],
                                                                             claims=[])
    assert ("do not apply" in html) is (model_id != "gpt2")
    assert "BuyableInstoreAndOnline" in html
    assert "<script>" not in html
