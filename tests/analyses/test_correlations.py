"""Correlations among the frequency candidates: values, intervals, partial correlations, claims 10–14."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analyses.correlations import VARIABLES, analyse_correlations, describe
from report.pipeline import results_document
from report.sections import correlations as section


def _claim(result, claim_id):
    return next(c for c in result.claims if c.id == claim_id)


def _variables(ctx):
    unigram, svd = ctx.results["unigram"], ctx.results["svd"]
    return {"unigram_dim": ctx.embeddings[:, unigram.dim].astype(np.float64), "norm": svd.norms,
            "svd0": svd.coordinates[:, 0], "log_frequency": ctx.log_frequency,
            "token_index": np.arange(ctx.n_tokens, dtype=np.float64)}


def test_planted_values_match_scipy(planted_ctx):
    r = planted_ctx.results["correlations"]
    data = _variables(planted_ctx)
    assert len(r.pairs) == 10 and {p.x for p in r.pairs} | {p.y for p in r.pairs} == set(VARIABLES)
    for p in r.pairs:
        keep = np.isfinite(data[p.x]) & np.isfinite(data[p.y])
        assert p.n == keep.sum()
        assert p.spearman == pytest.approx(stats.spearmanr(data[p.x][keep], data[p.y][keep]).statistic, abs=1e-9)
        assert p.pearson == pytest.approx(stats.pearsonr(data[p.x][keep], data[p.y][keep]).statistic, abs=1e-9)
        assert p.ci95[0] <= p.spearman <= p.ci95[1]
        assert p.pearson_ci95[0] <= p.pearson <= p.pearson_ci95[1]


def test_planted_frequency_claims_hold(planted_ctx):
    r = planted_ctx.results["correlations"]
    assert r.pair("unigram_dim", "log_frequency").spearman > 0.8
    for claim_id in (10, 12, 14):
        assert _claim(r, claim_id).verdict == "holds"
    # Claim 11 follows its rule (in the fixture the 256 byte tokens, first in the vocabulary, are the rarest).
    p = r.pair("unigram_dim", "token_index")
    assert _claim(r, 11).verdict == ("holds" if p.ci95[1] < 0 else "fails")


def test_unplanted_claims_fail_or_do_not_apply(unplanted_ctx):
    r = unplanted_ctx.results["correlations"]
    assert not r.unigram_standout
    for claim_id in (10, 11, 12):
        assert _claim(r, claim_id).verdict == "not-applicable"
    assert _claim(r, 14).verdict == "fails"  # noise norms do not track frequency


def test_partial_correlation_matches_rank_residuals():
    rng = np.random.default_rng(0)
    n = 3000
    z = rng.normal(size=n)
    x = z + rng.normal(size=n)
    y = z + 0.5 * x + rng.normal(size=n)
    data = {"unigram_dim": x, "norm": z, "svd0": y, "log_frequency": rng.normal(size=n),
            "token_index": np.arange(n) * 1.0}
    r = analyse_correlations(data, 0, True, True, seed=0, n_resamples=100)
    partial = next(p for p in r.partials if (p.x, p.y) == ("unigram_dim", "svd0"))
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    resid = lambda a: a - np.polyval(np.polyfit(rz, a, 1), rz)  # noqa: E731
    assert partial.spearman == pytest.approx(np.corrcoef(resid(rx), resid(ry))[0, 1], abs=1e-9)
    assert partial.ci95[0] < partial.spearman < partial.ci95[1]
    assert all("norm" not in (p.x, p.y) for p in r.partials) and len(r.partials) == 6


def test_opposite_sign_fails_and_token_index_frequency_does_not_apply():
    rng = np.random.default_rng(1)
    n = 2000
    norm = rng.normal(size=n)
    data = {"unigram_dim": norm + 0.3 * rng.normal(size=n), "norm": norm, "svd0": rng.normal(size=n),
            "log_frequency": np.full(n, np.nan), "token_index": np.arange(n) * 1.0}
    r = analyse_correlations(data, 3, True, frequency_usable=False, seed=0, n_resamples=100)
    assert _claim(r, 10).verdict == "fails"  # the dim rises with norm here
    assert _claim(r, 12).verdict == "not-applicable" and _claim(r, 14).verdict == "not-applicable"


def test_describe_words():
    assert "very strong positive" in describe("unigram_dim", "log_frequency", 0.8, (0.75, 0.85), 100)
    assert "no meaningful" in describe("norm", "svd0", 0.05, (-0.02, 0.1), 100)
    assert "sign is not established" in describe("norm", "svd0", 0.2, (-0.02, 0.4), 100)
    assert describe("svd0", "norm", -0.4, (-0.5, -0.3), 10).startswith("SVD component 0 falls")


def test_results_json_has_unigram_dim_and_correlations(planted_ctx):
    document = results_document(planted_ctx)
    unigram = document["analyses"]["unigram"]
    assert isinstance(unigram["dim"], int)
    rows = unigram["correlations"]
    assert len(rows) == 10
    assert set(rows[0]) >= {"x", "y", "spearman", "pearson", "ci95", "pearson_ci95", "n"}
    assert len(unigram["partial_correlations"]) == 6
    assert "correlations" not in document["analyses"]
    ids = {c["id"] for c in document["claims"]}
    assert {1, 8, 9, 10, 11, 12, 13, 14} <= ids


def test_section_figure(planted_ctx):
    r = planted_ctx.results["correlations"]
    assert [f.name for f in section.figures(r, planted_ctx)] == ["correlation_matrix"]


def test_every_qualifying_candidate_is_tested_against_all_dims():
    rng = np.random.default_rng(21)
    n, d = 2000, 24
    freq = rng.normal(size=n)
    tokens = rng.normal(size=(n, d))
    tokens[:, 5] = freq + 0.5 * rng.normal(size=n)  # the unigram dim
    tokens[:, 9] = freq + 0.5 * rng.normal(size=n)  # a second dim that qualifies and also follows frequency
    data = {"unigram_dim": tokens[:, 5], "norm": np.linalg.norm(tokens, axis=1), "svd0": rng.normal(size=n),
            "log_frequency": freq, "token_index": np.arange(n) * 1.0}
    r = analyse_correlations(data, 5, True, frequency_usable=True, seed=0, n_resamples=100,
                             token_embeddings=tokens, candidates=(5, 9, 13))
    detail = _claim(r, 12).detail
    assert _claim(r, 12).verdict == "holds" and "qualifying dim 9" in detail and "qualifying dim 13" in detail
    assert r.dim_percentile["log_frequency"] > 0.95
    assert "qualifying dim 5" not in detail
