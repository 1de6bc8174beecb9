"""LayerNorm basis: gain spread, the rotation null and the permutation null, on planted and synthetic weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from analyses.calibration import N_LAYERS, planted_model
from analyses.layernorm_basis import OUTLIER_Z, _token_spectrum, analyse_layernorm_basis
from report.sections import layernorm_basis as section


def _claim(result, claim_id):
    return next(c for c in result.claims if c.id == claim_id)


def test_planted_outlier_gains_are_found(planted_ctx, planted):
    r = planted_ctx.results["layernorm_basis"]
    labels = list(r.labels)
    assert labels[0] == ("ln_1", 0) and labels[-1] == ("ln_f", -1)
    layer0_ln1 = labels.index(("ln_1", 0))
    assert set(r.outlier_dims[layer0_ln1]) == set(planted.spec.heavy_dims)  # planted at 0.3 against ~1
    for layer in range(planted.spec.n_layers):
        assert planted.spec.unigram_dim in r.outlier_dims[labels.index(("ln_2", layer))]  # planted at 4.0
    assert _claim(r, 1).verdict == "holds"


def test_planted_gain_statistics_match_direct_computation(planted_ctx):
    r = planted_ctx.results["layernorm_basis"]
    for i, ln in enumerate(planted_ctx.weights.layer_norms):
        g = np.abs(ln.weight.astype(np.float64))
        assert r.cv[i] == pytest.approx(g.std() / g.mean())
        assert r.kurtosis[i] == pytest.approx(stats.kurtosis(g))


def test_planted_standard_basis_beats_every_random_basis(planted_ctx):
    r = planted_ctx.results["layernorm_basis"]
    assert r.token_std_cv > r.token_std_null.max()
    assert r.token_std_p == pytest.approx(1 / (1 + r.n_rotations))
    # Layer 0's LN1 turns the position-heavy dims down: strongly negative rank correlation, beyond the null.
    i = list(r.labels).index(("ln_1", 0))
    assert r.profile_source == "position"
    assert r.spearman_profile[i] < -r.spearman_null_q95 and r.spearman_p[i] < 0.01


def test_unplanted_claim_fails(unplanted_ctx):
    r = unplanted_ctx.results["layernorm_basis"]
    assert all(len(dims) == 0 for dims in r.outlier_dims)
    assert r.token_std_p > 0.01
    assert _claim(r, 1).verdict == "fails"


def test_isotropic_embedding_sits_inside_the_rotation_null():
    rng = np.random.default_rng(3)
    tokens = rng.normal(0, 1, (4000, 32))
    gains = 1 + rng.normal(0, 0.05, (3, 32))
    r = analyse_layernorm_basis([("ln_1", 0), ("ln_2", 0), ("ln_f", -1)], gains, tokens, None, seed=0, n_rotations=100)
    lo, hi = np.quantile(r.token_std_null, [0.005, 0.995])
    assert lo <= r.token_std_cv <= hi
    assert r.profile_source == "token"
    assert _claim(r, 1).verdict == "fails"


def test_uniform_gains_have_no_spread_in_any_basis():
    rng = np.random.default_rng(0)
    r = analyse_layernorm_basis([("ln_1", 0)], np.full((1, 16), 0.7), rng.normal(size=(500, 16)), None, seed=1,
                                n_rotations=20)
    assert r.cv[0] == pytest.approx(0)
    assert np.allclose(r.rotated_cv_band[0], 0, atol=1e-6)
    assert r.outlier_dims == ((),)


def test_one_dominant_gain_is_an_outlier_but_rotation_dilutes_it():
    gains = np.ones((1, 64))
    gains[0, 5] = 4.0
    gains[0] += np.random.default_rng(0).normal(0, 0.02, 64)
    tokens = np.random.default_rng(1).normal(size=(300, 64))
    r = analyse_layernorm_basis([("ln_2", 0)], gains, tokens, None, seed=0, n_rotations=50)
    assert r.outlier_dims[0] == (5,) and r.top_dims[0][0][0] == 5
    assert r.max_abs_z[0] >= OUTLIER_Z
    assert r.cv[0] > r.rotated_cv_band[0, 2]  # a random basis spreads the one big gain over every direction


def test_seeded_and_deterministic():
    rng = np.random.default_rng(0)
    tokens, gains = rng.normal(size=(400, 24)), 1 + rng.normal(0, 0.1, (2, 24))
    args = ([("ln_1", 0), ("ln_2", 0)], gains, tokens, rng.normal(size=(16, 24)))
    a = analyse_layernorm_basis(*args, seed=5, n_rotations=30, n_permutations=200)
    b = analyse_layernorm_basis(*args, seed=5, n_rotations=30, n_permutations=200)
    assert np.array_equal(a.token_std_null, b.token_std_null) and np.array_equal(a.spearman_p, b.spearman_p)


def test_section_json_lists_every_layer_norm(planted_ctx):
    r = planted_ctx.results["layernorm_basis"]
    document = section.to_json(r, planted_ctx)
    assert [row["name"] for row in document["per_layer_norm"]] == [ln.name for ln in planted_ctx.weights.layer_norms]
    assert 0 < document["layer_norms_with_outliers_fraction"] <= 1
    assert {f.name for f in section.figures(r, planted_ctx)} == {"ln_gain_profiles", "ln_gain_spread", "ln_basis_nulls"}


def _gains(rng: np.random.Generator, n_norms: int, d: int, heavy_tails: bool = False) -> np.ndarray:
    noise = rng.standard_t(3, (n_norms, d)) if heavy_tails else rng.normal(size=(n_norms, d))
    return 1 + 0.05 * noise


def _labels(n_norms: int) -> list[tuple[str, int]]:
    return [("ln_2", i) for i in range(n_norms)]


@pytest.mark.parametrize("n_with_dim", [12, 13])
def test_a_recurrent_outlier_dim_holds_whatever_the_share_of_layer_norms(n_with_dim):
    """No knife edge at half the LayerNorms: a dim standing out in 12 of 25 holds as 13 of 25 does."""
    rng = np.random.default_rng(n_with_dim)
    gains = _gains(rng, 25, 128)
    gains[:n_with_dim, 40] = 1.6  # robust z ≈ 12
    r = analyse_layernorm_basis(_labels(25), gains, rng.normal(size=(500, 128)), None, seed=0, n_rotations=20,
                                n_permutations=50)
    c = _claim(r, 1)
    assert r.recurring_dim == 40 and c.verdict == "holds" and c.value == pytest.approx(n_with_dim / 25)


@pytest.mark.parametrize("seed", range(4))
def test_heavy_tailed_gains_with_scattered_outliers_do_not_hold(seed):
    """iid heavy-tailed gains have outliers in most LayerNorms, each beyond its rotated band; none recurs."""
    rng = np.random.default_rng(seed)
    gains = _gains(rng, 25, 256, heavy_tails=True)
    r = analyse_layernorm_basis(_labels(25), gains, rng.normal(size=(500, 256)), None, seed=seed, n_rotations=20,
                                n_permutations=50)
    assert _claim(r, 1).verdict != "holds"


@pytest.mark.parametrize("size, allowed", [(1.0, {"holds"}), (0.5, {"holds", "inconclusive"})])
def test_planted_unigram_gain_holds_at_the_study_size_and_never_fails_at_half(size, allowed):
    for seed in range(3):
        m = planted_model(size, 128, 600, seed=seed)
        gains = np.vstack([np.stack([m.ln1[i], m.ln2[i]]) for i in range(N_LAYERS)] + [m.ln_f[None, :]])
        labels = [(role, i) for i in range(N_LAYERS) for role in ("ln_1", "ln_2")] + [("ln_f", -1)]
        r = analyse_layernorm_basis(labels, gains, m.tokens, m.positions, seed=seed, n_rotations=20,
                                    n_permutations=50)
        assert _claim(r, 1).verdict in allowed, (size, seed, _claim(r, 1))


def test_token_std_is_the_float32_std_torch_gives():
    """The blocked float64 std, rounded to float32, is torch.std of the float32 matrix value for value."""
    rng = np.random.default_rng(6)
    tokens = (rng.standard_normal((20000, 96)) * rng.uniform(1e-3, 3, 96) + rng.normal(0, 5, 96)).astype(np.float32)
    _, std = _token_spectrum(tokens, "cpu", np.random.default_rng(0))
    np.testing.assert_array_equal(std, torch.std(torch.as_tensor(tokens), dim=0, correction=0).double().numpy())
