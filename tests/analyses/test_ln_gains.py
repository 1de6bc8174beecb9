"""LayerNorm gains against position activity: per-layer statistics and claim 8."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analyses.ln_gains import analyse_ln_gains
from report.sections import ln_gains as section


def _claim8(result):
    return next(c for c in result.claims if c.name == "layer0_gains_dial_down_position_dims")


def test_planted_layer0_dials_heavy_dims_down(planted_ctx, planted):
    r = planted_ctx.results["ln_gains"]
    assert r.applicable and r.heavy_dims == planted.spec.heavy_dims
    ln1 = planted_ctx.weights.norms_with_role("ln_1")[0].weight
    heavy = np.zeros(planted.spec.d_model, dtype=bool)
    heavy[list(planted.spec.heavy_dims)] = True
    expected = np.median(np.abs(ln1[heavy])) / np.median(np.abs(ln1[~heavy]))
    assert r.heavy_ratio["ln_1"][0] == pytest.approx(expected)
    assert r.heavy_ratio["ln_1"][0] < 0.4
    assert set(r.outlier_dims["ln_1"][0]) == set(planted.spec.heavy_dims)
    assert _claim8(r).verdict == "holds"


def test_planted_spearman_matches_scipy(planted_ctx):
    r = planted_ctx.results["ln_gains"]
    position_std = planted_ctx.results["position"].profile.position_std
    for i, ln in enumerate(planted_ctx.weights.norms_with_role("ln_2")):
        expected = stats.spearmanr(np.log10(np.abs(ln.weight)), np.log10(position_std)).statistic
        assert r.spearman["ln_2"][i] == pytest.approx(expected)


def test_unplanted_has_no_heavy_dims_so_claim_is_not_applicable(unplanted_ctx):
    r = unplanted_ctx.results["ln_gains"]
    assert not r.applicable
    assert _claim8(r).verdict == "not-applicable"


def test_unplanted_gains_against_planted_heavy_dims_fail(unplanted_ctx, planted_ctx):
    """Noise gains do not dial the (planted) heavy dims down: the claim must fail."""
    w = unplanted_ctx.weights
    ln1 = np.array([ln.weight for ln in w.norms_with_role("ln_1")])
    ln2 = np.array([ln.weight for ln in w.norms_with_role("ln_2")])
    position = planted_ctx.results["position"]
    r = analyse_ln_gains(range(len(ln1)), ln1, ln2, position.profile.position_std, position.heavy_dims)
    assert r.applicable
    assert _claim8(r).verdict == "fails"


def _synthetic(later_factor: float, layers: int = 4, d: int = 100):
    rng = np.random.default_rng(0)
    heavy = list(range(0, d, 10))
    position_std = np.full(d, 0.01) * np.exp(rng.normal(0, 0.2, d))
    position_std[heavy] = 0.5
    gains = 1 + rng.normal(0, 0.05, (2, layers, d))
    gains[0, 0, heavy] = 0.2  # layer-0 LN1 dials down
    gains[:, 1:, heavy] *= later_factor
    return analyse_ln_gains(range(layers), gains[0], gains[1], position_std, heavy)


def test_synthetic_only_layer0_dials_down_holds():
    r = _synthetic(later_factor=1.0)
    assert _claim8(r).verdict == "holds"
    assert r.spearman["ln_1"][0] < -0.1


def test_synthetic_every_layer_dials_down_fails():
    """If later layers also turn the whole heavy cluster down, they do more than adjust a few outliers."""
    r = _synthetic(later_factor=0.3)
    assert _claim8(r).verdict == "fails"


def test_no_position_embeddings_is_not_applicable():
    gains = np.ones((2, 8))
    r = analyse_ln_gains([0, 1], gains, gains, None, [])
    assert not r.applicable and _claim8(r).verdict == "not-applicable"
    assert np.isnan(r.spearman["ln_1"]).all()


def test_section_json_has_every_layer(planted_ctx):
    r = planted_ctx.results["ln_gains"]
    document = section.to_json(r, planted_ctx)
    assert [row["layer"] for row in document["per_layer"]] == list(range(planted_ctx.weights.n_layers))
    assert {"spearman", "heavy_to_other_median_gain", "outlier_dims"} <= set(document["per_layer"][0]["ln_1"])
    names = {f.name for f in section.figures(r, planted_ctx)}
    assert names == {"ln_gains_ln_1", "ln_gains_ln_2", "ln_gains_summary"}
