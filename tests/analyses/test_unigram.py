"""The unigram dim: the discovery rule, the dim's statistics, the tokens that buck the trend, claims 9 and 13."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analyses.correlations import link_states, overall
from analyses.stats import robust_z
from analyses.unigram import STANDOUT_Z, analyse_unigram
from report.sections import unigram as section


def _claim(result, name):
    return next(c for c in result.claims if c.name == name)


def test_planted_unigram_dim_is_found(planted_ctx, planted):
    r = planted_ctx.results["unigram"]
    assert isinstance(r.dim, int) and r.dim == planted.spec.unigram_dim
    assert r.standout
    assert r.layers_standing_out == tuple(range(planted.spec.n_layers))
    assert (r.dim_z >= STANDOUT_Z).all()
    assert _claim(r, "unigram_dim_in_gains").verdict == "holds"
    assert r.contrast_dim == planted.spec.unigram_dim - 1  # nearest ordinary dim, lower first
    assert r.contrast_dim not in planted.spec.heavy_dims


def test_planted_statistics_match_direct_computation(planted_ctx):
    r = planted_ctx.results["unigram"]
    tokens = planted_ctx.embeddings.astype(np.float64)
    values = tokens[:, r.dim]
    assert np.allclose(r.values, values)
    assert r.token_mean == pytest.approx(values.mean()) and r.token_std == pytest.approx(values.std())
    ln2 = planted_ctx.weights.norms_with_role("ln_2")
    assert np.allclose(r.dim_z, [robust_z(np.abs(ln.weight))[r.dim] for ln in ln2])
    log_f = planted_ctx.log_frequency
    known = np.isfinite(log_f)
    assert r.frequency_n == known.sum()
    assert r.frequency_spearman == pytest.approx(stats.spearmanr(values[known], log_f[known]).statistic)
    assert r.frequency_spearman > 0.8  # planted: the dim rises with corpus log count


def test_planted_buckers_are_the_extreme_rank_residuals(planted_ctx):
    r = planted_ctx.results["unigram"]
    log_f = planted_ctx.log_frequency
    ids = np.flatnonzero(np.isfinite(log_f))
    n = len(ids)
    value_rank = (stats.rankdata(r.values[ids]) - 0.5) / n - 0.5
    freq_rank = (stats.rankdata(log_f[ids]) - 0.5) / n - 0.5
    residual = value_rank - r.frequency_spearman * freq_rank
    assert r.buckers_above[0] == (int(ids[np.argmax(residual)]), pytest.approx(residual.max()))
    assert r.buckers_below[0] == (int(ids[np.argmin(residual)]), pytest.approx(residual.min()))
    assert all(a[1] >= b[1] for a, b in zip(r.buckers_above, r.buckers_above[1:]))


def test_planted_claim13_follows_its_rule(planted_ctx):
    """The fixture plants no variance or position property for the dim; the verdict must follow the numbers."""
    r = planted_ctx.results["unigram"]
    position = planted_ctx.results["position"]
    profile = (r.dim not in position.heavy_dims and r.position_pct <= 0.5 and r.abs_mean_pct >= 0.9
               and r.std_pct >= 0.75)
    link = overall(link_states(r.frequency_beyond_norm))
    expected = "fails" if not profile or link == "absent" else "holds" if link == "shown" else "inconclusive"
    assert _claim(r, "unigram_dim_profile").verdict == expected
    assert r.abs_mean_pct >= 0.9  # planted: the dim is off-centre


def test_unplanted_has_no_unigram_dim(unplanted_ctx):
    r = unplanted_ctx.results["unigram"]
    assert not r.standout and isinstance(r.dim, int)
    assert r.dim == int(np.argmax(r.z.mean(axis=0)))  # fallback: highest mean z
    assert _claim(r, "unigram_dim_in_gains").verdict == "fails"
    assert _claim(r, "unigram_dim_profile").verdict == "not-applicable"


def _tokens(d=20, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.1, (n, d))


def test_ties_in_layer_count_go_to_the_larger_mean_z():
    gains = np.ones((4, 20)) + np.random.default_rng(1).normal(0, 0.01, (4, 20))
    gains[:, 3] = 2.0
    gains[:, 7] = 3.0  # stands out in as many layers as dim 3, but further
    r = analyse_unigram(range(4), gains, _tokens(), None, [], np.full(2000, np.nan))
    assert r.dim == 7 and r.standout
    assert r.candidates(2)[1][0] == 3


def test_single_layer_standout_is_not_enough():
    gains = np.ones((3, 20)) + np.random.default_rng(2).normal(0, 0.01, (3, 20))
    gains[1, 4] = 3.0
    r = analyse_unigram(range(3), gains, _tokens(), None, [], np.full(2000, np.nan))
    assert r.dim == 4 and not r.standout
    assert _claim(r, "unigram_dim_in_gains").verdict == "fails"


def test_no_ln2_layers_still_names_a_dim():
    r = analyse_unigram([], np.zeros((0, 20)), _tokens(), None, [], np.full(2000, np.nan))
    assert isinstance(r.dim, int) and not r.standout
    assert _claim(r, "unigram_dim_in_gains").verdict == "fails"
    assert r.buckers_above == () and np.isnan(r.frequency_spearman)


def _quiet_offcentre_wide_dim(kind: str, seed: int = 0, size: float = 1.0):
    """Rows whose lengths shrink with frequency and a quiet, off-centre, wide dim 5 standing out in every pre-MLP
    norm, which "scales" with its row (no frequency information of its own), or "tracks" log frequency beyond the
    row's length (Spearman ≈ 0.6·size)."""
    rng = np.random.default_rng(seed)
    d, n = 30, 3000
    log_f = -np.log1p(np.arange(n)) + rng.normal(0, 1, n)
    z = (log_f - log_f.mean()) / log_f.std()
    scale = np.exp(-0.12 * (0.6 * z + 0.8 * rng.normal(size=n)))
    tokens = scale[:, None] * rng.normal(0, 0.1, (n, d))
    own = rng.normal(size=n)
    r = 0.6 * size
    tokens[:, 5] = scale * (0.4 + 0.3 * own) if kind == "scales" else 0.4 + 0.3 * (r * z + np.sqrt(1 - r * r) * own)
    position_std = np.full(d, 0.01) * np.exp(rng.normal(0, 0.1, d))
    position_std[[0, 1, 2]] = 1.0
    position_std[5] = 0.005  # quiet
    gains = np.ones((4, d)) + rng.normal(0, 0.01, (4, d))
    gains[:, 5] = 3.0
    return range(4), gains, tokens, position_std, [0, 1, 2], log_f


def test_claim13_profile_without_frequency_is_inconclusive():
    layers, gains, tokens, position_std, heavy, _ = _quiet_offcentre_wide_dim("tracks")
    r = analyse_unigram(layers, gains, tokens, position_std, heavy, np.full(len(tokens), np.nan))
    assert r.dim == 5 and r.frequency_beyond_norm is None
    assert _claim(r, "unigram_dim_profile").verdict == "inconclusive"
    assert r.contrast_dim == 4


@pytest.mark.parametrize("seed", [0, 1])
def test_claim13_needs_a_unigram_dim_not_just_an_offcentre_wide_one(seed):
    r = analyse_unigram(*_quiet_offcentre_wide_dim("scales", seed))
    assert r.dim == 5 and r.abs_mean_pct >= 0.9 and r.std_pct >= 0.75  # the profile is there
    assert _claim(r, "unigram_dim_profile").verdict == "fails"
    assert "is not more than the row's length" in _claim(r, "unigram_dim_profile").detail


@pytest.mark.parametrize("seed", [0, 1])
def test_claim13_holds_for_a_quiet_offcentre_wide_unigram_dim(seed):
    assert _claim(analyse_unigram(*_quiet_offcentre_wide_dim("tracks", seed)), "unigram_dim_profile").verdict == "holds"
    half = analyse_unigram(*_quiet_offcentre_wide_dim("tracks", seed, size=0.5))
    assert _claim(half, "unigram_dim_profile").verdict in ("holds", "inconclusive")


def test_section_json_shape(planted_ctx):
    document = section.to_json(planted_ctx.results["unigram"], planted_ctx)
    assert isinstance(document["dim"], int) and isinstance(document["standout"], bool)
    assert {"rule", "layers_standing_out", "z_per_layer", "contrast_dim", "buckers"} <= set(document)
    assert document["buckers"]["above_trend"][0]["text"]
