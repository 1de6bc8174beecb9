"""Position embeddings: the heavy-dim rule (Otsu split of log10 std, Ashman's D, group ratio, at most half
the dims), token statistics in those dims, centring, Fourier shares and periods, claims 2-7."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.position import MIN_ASHMAN_D, MIN_STD_RATIO, analyse_position
from analyses.stats import robust_z, two_cluster_split


def _claim(result, claim_id):
    return next(c for c in result.claims if c.id == claim_id)


def _positions_with_std(std: np.ndarray, n: int = 256, seed: int = 0) -> np.ndarray:
    """[n, d] noise whose columns have mean 0 and population std exactly `std`."""
    z = np.random.default_rng(seed).normal(size=(n, len(std)))
    z -= z.mean(axis=0)
    z /= z.std(axis=0)
    return z * std


def _tokens(d: int, n: int = 500, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, (n, d))


# --- the planted checkpoint -------------------------------------------------------------------------


def test_planted_heavy_dims_are_found_exactly(planted_ctx, planted):
    r = planted_ctx.results["position"]
    assert r.has_positions and r.has_cluster
    assert r.heavy_dims == tuple(sorted(planted.spec.heavy_dims))
    assert r.ashman_d >= MIN_ASHMAN_D and r.std_ratio_groups >= MIN_STD_RATIO
    # planted: heavy dims ≈ 0.3/√2 ≈ 0.21 std across positions, the rest ≈ 0.002
    assert 50 <= r.std_ratio_groups <= 200
    log_std = np.log10(r.position_std)
    heavy = np.zeros(planted.spec.d_model, dtype=bool)
    heavy[list(planted.spec.heavy_dims)] = True
    assert log_std[~heavy].max() < r.log10_threshold < log_std[heavy].min()
    assert _claim(r, 4).verdict == "holds" and _claim(r, 4).value == pytest.approx(r.ashman_d)


def test_planted_token_moments_match_float64_numpy(planted_ctx):
    r = planted_ctx.results["position"]
    tokens = np.asarray(planted_ctx.embeddings, dtype=np.float64)
    np.testing.assert_allclose(r.token_mean, tokens.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.token_std, tokens.std(axis=0), rtol=0, atol=1e-12)
    positions = np.asarray(planted_ctx.weights.position_embeddings, dtype=np.float64)
    np.testing.assert_allclose(r.position_mean, positions.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.position_std, positions.std(axis=0), rtol=0, atol=1e-12)


def test_planted_outlier_and_stripe_dims_follow_their_rules(planted_ctx, planted):
    r = planted_ctx.results["position"]
    mean, std = r.token_mean, r.token_std
    assert r.stripe_dims == tuple(np.flatnonzero(np.abs(mean) >= 0.5 * std))
    assert r.low_std_dims == tuple(np.flatnonzero(robust_z(std) <= -3.5))
    assert r.mean_outliers_low == tuple(np.flatnonzero(robust_z(mean) <= -3.5))
    assert r.mean_outliers_high == tuple(np.flatnonzero(robust_z(mean) >= 3.5))
    heavy = list(planted.spec.heavy_dims)
    # planted: heavy dims have 0.3× token spread and token means alternating +0.25, −0.25
    assert set(heavy) <= set(r.low_std_dims)
    assert set(heavy[::2]) <= set(r.mean_outliers_high) and set(heavy[1::2]) <= set(r.mean_outliers_low)
    assert set(heavy) <= set(r.stripe_dims)
    assert _claim(r, 2).verdict == "holds" and _claim(r, 3).verdict == "holds"


def test_planted_heavy_dims_have_low_token_std_and_high_token_mean(planted_ctx):
    r = planted_ctx.results["position"]
    heavy = np.zeros(len(r.token_std), dtype=bool)
    heavy[list(r.heavy_dims)] = True
    assert r.token_std_ratio == pytest.approx(np.median(r.token_std[heavy]) / np.median(r.token_std[~heavy]))
    assert r.token_abs_mean_ratio == pytest.approx(
        np.median(np.abs(r.token_mean[heavy])) / np.median(np.abs(r.token_mean[~heavy])))
    assert r.token_std_ratio < 0.5 and r.token_abs_mean_ratio > 5
    assert r.token_std_p < 0.01 and r.token_abs_mean_p < 0.01
    assert _claim(r, 5).verdict == "holds" and _claim(r, 5).value == pytest.approx(r.token_std_ratio)


def test_planted_heavy_dims_are_centred_periodic_sinusoids(planted_ctx, planted):
    r = planted_ctx.results["position"]
    assert r.centred_fraction == 1.0 and _claim(r, 6).verdict == "holds"
    assert r.fourier_share.shape == r.dominant_period.shape == (len(r.heavy_dims),)
    assert (r.fourier_share > 0.8).all() and _claim(r, 7).verdict == "holds"
    # planted periods: n_positions / cycles, cycles cycling through (1, 1, 2, 2, 3, 4, 1.5, 6)
    cycles = np.resize(np.array([1, 1, 2, 2, 3, 4, 1.5, 6]), len(planted.spec.heavy_dims))
    whole = cycles == np.round(cycles)  # a fractional cycle count has no exact Fourier bin
    expected = planted.spec.n_positions / cycles
    np.testing.assert_allclose(r.dominant_period[whole], expected[whole], rtol=1e-12)


def test_unplanted_noise_has_no_heavy_cluster(unplanted_ctx):
    r = unplanted_ctx.results["position"]
    assert r.has_positions and not r.has_cluster
    assert r.heavy_dims == ()
    assert r.std_ratio_groups < MIN_STD_RATIO  # isotropic noise: every dim has about the same spread
    assert _claim(r, 4).verdict == "fails"
    assert _claim(r, 5).verdict == "not-applicable" and _claim(r, 5).value is None
    assert _claim(r, 7).verdict == "not-applicable"
    assert np.isnan(r.token_std_ratio) and np.isnan(r.token_std_p)
    assert r.fourier_share.shape == r.dominant_period.shape == (0,)
    # without heavy dims, centring is judged over all dims
    p = np.asarray(unplanted_ctx.weights.position_embeddings, dtype=np.float64)
    assert r.centred_fraction == pytest.approx(np.mean(np.abs(p.mean(axis=0)) < p.std(axis=0)))


# --- synthetic matrices --------------------------------------------------------------------------------


def _loud_positions(seed: int, n: int, d: int, loud: list[int]) -> np.ndarray:
    """n positions of white noise in d dims, a hundredfold louder in the `loud` dims."""
    positions = np.random.default_rng(seed).normal(0, 0.01, (n, d))
    positions[:, loud] *= 100
    return positions


def test_dims_a_hundredfold_louder_are_exactly_the_heavy_dims():
    d, n = 48, 1024
    loud = [2, 5, 11, 30, 47]
    positions = _loud_positions(3, n, d, loud)
    r = analyse_position(_tokens(d), positions)
    assert r.has_cluster and r.heavy_dims == tuple(loud)
    assert r.std_ratio_groups == pytest.approx(100, rel=0.1)
    assert -2 < r.log10_threshold < 0
    assert _claim(r, 4).verdict == "holds"
    assert r.centred_fraction == 1.0


def test_an_offcentre_heavy_dim_lowers_the_centred_fraction():
    d, n = 40, 512
    loud = [1, 8, 15, 22, 33]
    positions = _loud_positions(4, n, d, loud)
    positions[:, 15] += 5.0  # |mean| ≈ 5 against std ≈ 1
    r = analyse_position(_tokens(d), positions)
    assert r.heavy_dims == tuple(loud)
    assert r.centred_fraction == pytest.approx(4 / 5)
    assert _claim(r, 6).verdict == "fails"


@pytest.mark.parametrize("n_loud, cluster", [(1, True), (20, True), (21, False)])
def test_the_upper_group_may_hold_at_most_half_the_dims(n_loud, cluster):
    d = 40
    std = np.full(d, 0.01) * np.exp(np.random.default_rng(5).normal(0, 0.05, d))
    loud = np.random.default_rng(6).choice(d, n_loud, replace=False)
    std[loud] *= 100
    r = analyse_position(_tokens(d), _positions_with_std(std))
    assert r.has_cluster is cluster
    assert r.heavy_dims == (tuple(sorted(int(i) for i in loud)) if cluster else ())
    assert _claim(r, 4).verdict == ("holds" if cluster else "fails")


def test_a_clean_split_under_tenfold_is_no_cluster():
    d = 32
    std = np.full(d, 0.01) * np.exp(np.random.default_rng(7).normal(0, 0.01, d))
    std[[4, 12, 20]] *= 5
    r = analyse_position(_tokens(d), _positions_with_std(std))
    assert r.ashman_d >= MIN_ASHMAN_D  # the split itself is clean ...
    assert r.std_ratio_groups == pytest.approx(5, rel=0.05)  # ... but the groups differ only fivefold
    assert not r.has_cluster and r.heavy_dims == ()
    assert _claim(r, 4).verdict == "fails"


def test_a_tenfold_split_without_a_gap_is_no_cluster():
    """Heavy-tailed log10 stds: the Otsu groups differ > 10× in median but Ashman's D is below 2."""
    log_std = np.array([-5.8, -1.7, -1.55, -1.51, -1.46, -1.4, -1.13, -0.88, -0.82, -0.73, -0.72, -0.69, -0.54,
                        -0.5, -0.41, -0.29, -0.27, -0.1, -0.07, -0.03, 0.05, 0.1, 0.2, 0.48, 0.59, 0.69, 1.0,
                        1.0, 1.04, 1.23, 1.74, 4.21]) - 2
    split = two_cluster_split(log_std)
    ratio = np.median(10 ** log_std[split.high]) / np.median(10 ** log_std[~split.high])
    assert split.ashman_d < MIN_ASHMAN_D and ratio >= MIN_STD_RATIO and split.high.sum() <= len(log_std) // 2
    r = analyse_position(_tokens(len(log_std)), _positions_with_std(10 ** log_std))
    assert r.ashman_d == pytest.approx(split.ashman_d, rel=1e-6)
    assert r.std_ratio_groups == pytest.approx(ratio, rel=1e-6)
    assert not r.has_cluster and r.heavy_dims == ()
    assert _claim(r, 4).verdict == "fails"


def test_fourier_finds_the_period_of_planted_sinusoids():
    n, d = 1024, 16
    t = np.arange(n)
    positions = np.random.default_rng(8).normal(0, 0.001, (n, d))
    positions[:, 4] = np.sin(2 * np.pi * t / 64 + 0.3)  # 16 whole cycles
    positions[:, 7] = np.cos(2 * np.pi * t / 256)  # 4 whole cycles
    positions[:, 9] = 0.8 * np.sin(2 * np.pi * t / 100 + 1.0)  # 10.24 cycles: falls between bins
    positions[:, 12] = np.random.default_rng(9).normal(0, 1, n)  # loud but white
    r = analyse_position(_tokens(d), positions)
    assert r.heavy_dims == (4, 7, 9, 12)
    share, period = dict(zip(r.heavy_dims, r.fourier_share)), dict(zip(r.heavy_dims, r.dominant_period))
    assert share[4] > 0.999 and period[4] == pytest.approx(64)
    assert share[7] > 0.999 and period[7] == pytest.approx(256)
    assert share[9] > 0.8 and period[9] == pytest.approx(100, rel=0.05)
    assert n / 11 <= period[9] <= n / 10  # the nearest bins to 10.24 cycles
    assert share[12] < 0.1  # white noise spreads over all 512 frequencies
    assert _claim(r, 7).verdict == "holds"


def test_white_noise_heavy_dims_fail_the_periodicity_claim():
    rng = np.random.default_rng(10)
    n, d = 512, 24
    positions = rng.normal(0, 0.001, (n, d))
    positions[:, [0, 6, 13]] = rng.normal(0, 1, (n, 3))
    r = analyse_position(_tokens(d), positions)
    assert r.heavy_dims == (0, 6, 13)
    assert (r.fourier_share < 0.2).all()
    assert _claim(r, 7).verdict == "fails"
    assert _claim(r, 7).value == pytest.approx(np.median(r.fourier_share))


@pytest.mark.parametrize("positions", [None, "one-row"])
def test_without_position_embeddings_position_claims_do_not_apply(positions):
    d = 20
    tokens = _tokens(d)
    if positions == "one-row":
        positions = np.ones((1, d))
    r = analyse_position(tokens, positions)
    assert not r.has_positions and not r.has_cluster and r.heavy_dims == ()
    assert np.array_equal(r.position_mean, np.zeros(d)) and np.array_equal(r.position_std, np.zeros(d))
    assert np.isnan(r.ashman_d) and np.isnan(r.log10_threshold) and np.isnan(r.centred_fraction)
    assert np.isnan(r.std_ratio_groups) and np.isnan(r.token_std_ratio)
    assert r.fourier_share.shape == r.dominant_period.shape == (0,)
    for claim_id in (4, 5, 6, 7):
        assert _claim(r, claim_id).verdict == "not-applicable" and _claim(r, claim_id).value is None
    # the token-only claims are still judged
    assert _claim(r, 2).verdict in ("holds", "fails") and _claim(r, 3).verdict in ("holds", "fails")
    np.testing.assert_allclose(r.token_mean, tokens.mean(axis=0), atol=1e-12)
