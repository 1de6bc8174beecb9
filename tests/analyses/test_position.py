"""Position embeddings: the heavy-dim rule (two-Gaussian mixture on log10 std with BIC margin, density dip,
Ashman's D, group ratio, minimum weight, no upper cap), token statistics in those dims, centring, periodicity
against red noise, claims 2-7."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from analyses.calibration import planted_model
from analyses.position import MIN_ASHMAN_D, MIN_STD_RATIO, analyse_position, heavy_cluster
from analyses.stats import robust_z


def _claim(result, name):
    return next(c for c in result.claims if c.name == name)


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
    assert r.has_positions and r.cluster.has_cluster
    assert r.heavy_dims == tuple(sorted(planted.spec.heavy_dims))
    assert r.cluster.ashman_d >= MIN_ASHMAN_D and r.cluster.std_ratio_groups >= MIN_STD_RATIO
    # planted: heavy dims ≈ 0.3/√2 ≈ 0.21 std across positions, the rest ≈ 0.002
    assert 50 <= r.cluster.std_ratio_groups <= 200
    log_std = np.log10(r.profile.position_std)
    heavy = np.zeros(planted.spec.d_model, dtype=bool)
    heavy[list(planted.spec.heavy_dims)] = True
    assert log_std[~heavy].max() < r.cluster.log10_threshold < log_std[heavy].min()
    c = _claim(r, "position_dims_clustered")
    assert c.verdict == "holds" and c.value == pytest.approx(r.cluster.ashman_d)


def test_planted_token_moments_match_float64_numpy(planted_ctx):
    r = planted_ctx.results["position"]
    tokens = np.asarray(planted_ctx.embeddings, dtype=np.float64)
    np.testing.assert_allclose(r.profile.token_mean, tokens.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.profile.token_std, tokens.std(axis=0), rtol=0, atol=1e-12)
    positions = np.asarray(planted_ctx.weights.position_embeddings, dtype=np.float64)
    np.testing.assert_allclose(r.profile.position_mean, positions.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.profile.position_std, positions.std(axis=0), rtol=0, atol=1e-12)


def test_planted_outlier_and_stripe_dims_follow_their_rules(planted_ctx, planted):
    r = planted_ctx.results["position"]
    mean, std = r.profile.token_mean, r.profile.token_std
    assert r.token_outliers.stripe_dims == tuple(np.flatnonzero((np.abs(robust_z(mean)) >= 3.5)
                                                 & (np.abs(mean - np.median(mean)) >= 0.5 * std)))
    assert r.token_outliers.low_std_dims == tuple(np.flatnonzero(robust_z(np.log10(std)) <= -3.5))
    assert r.token_outliers.mean_outliers_low == tuple(np.flatnonzero(robust_z(mean) <= -3.5))
    assert r.token_outliers.mean_outliers_high == tuple(np.flatnonzero(robust_z(mean) >= 3.5))
    heavy = list(planted.spec.heavy_dims)
    # planted: heavy dims have 0.3× token spread and token means alternating +0.25, −0.25
    assert set(heavy) <= set(r.token_outliers.low_std_dims)
    assert set(heavy[::2]) <= set(r.token_outliers.mean_outliers_high)
    assert set(heavy[1::2]) <= set(r.token_outliers.mean_outliers_low)
    assert set(heavy) <= set(r.token_outliers.stripe_dims)
    assert set(heavy) <= set(r.token_outliers.odd_dims) and r.token_outliers.odd_p < 0.01
    assert _claim(r, "token_dims_striped").verdict == "holds"
    assert _claim(r, "few_low_spread_token_dims").verdict == "holds"


def test_planted_heavy_dims_have_low_token_std_and_high_token_mean(planted_ctx):
    r = planted_ctx.results["position"]
    mean, std = r.profile.token_mean, r.profile.token_std
    heavy = np.zeros(len(std), dtype=bool)
    heavy[list(r.heavy_dims)] = True
    assert r.cluster.token_std_ratio == pytest.approx(np.median(std[heavy]) / np.median(std[~heavy]))
    assert r.cluster.token_abs_mean_ratio == pytest.approx(
        np.median(np.abs(mean[heavy])) / np.median(np.abs(mean[~heavy])))
    assert r.cluster.token_std_ratio < 0.5 and r.cluster.token_abs_mean_ratio > 5
    assert r.cluster.token_std_p < 0.01 and r.cluster.token_abs_mean_p < 0.01
    odd = np.array(r.token_outliers.odd_dims)  # low-spread AND high-mean, as the claim says
    c = _claim(r, "low_spread_dims_are_position_dims")
    assert c.verdict == "holds" and c.value == pytest.approx(np.mean(heavy[odd]))
    assert r.cluster.odd_heavy_p < 0.01


def test_planted_heavy_dims_are_centred_periodic_sinusoids(planted_ctx, planted):
    r = planted_ctx.results["position"]
    assert r.profile.centred_fraction == 1.0 and _claim(r, "positions_centred").verdict == "holds"
    periodicity = r.periodicity
    assert periodicity.fourier_share.shape == periodicity.dominant_period.shape == periodicity.periodic_p.shape \
        == (len(r.heavy_dims),)
    # planted periods: n_positions / cycles, cycles cycling through (1, 1, 2, 2, 3, 4, 1.5, 6); one or 1.5
    # cycles cannot be told from a bump, the others are periodic
    cycles = np.resize(np.array([1, 1, 2, 2, 3, 4, 1.5, 6]), len(planted.spec.heavy_dims))
    several = cycles >= 2
    assert (r.periodicity.fourier_share[several] > 0.8).all() and (r.periodicity.periodic_p[several] <= 0.01).all()
    c = _claim(r, "positions_smooth_periodic")
    assert c.verdict == "holds" and c.value == pytest.approx(np.mean(several))
    expected = planted.spec.n_positions / cycles
    np.testing.assert_allclose(r.periodicity.dominant_period[several], expected[several], rtol=1e-12)


def test_unplanted_noise_has_no_heavy_cluster(unplanted_ctx):
    r = unplanted_ctx.results["position"]
    assert r.has_positions and not r.cluster.has_cluster
    assert r.heavy_dims == ()
    assert r.cluster.std_ratio_groups < MIN_STD_RATIO  # isotropic noise: every dim has about the same spread
    assert _claim(r, "position_dims_clustered").verdict == "fails"
    c = _claim(r, "low_spread_dims_are_position_dims")
    assert c.verdict == "not-applicable" and c.value is None
    assert _claim(r, "positions_smooth_periodic").verdict == "not-applicable"
    assert np.isnan(r.cluster.token_std_ratio) and np.isnan(r.cluster.token_std_p)
    assert r.periodicity.fourier_share.shape == r.periodicity.dominant_period.shape == (0,)
    # centring is judged over all dims
    p = np.asarray(unplanted_ctx.weights.position_embeddings, dtype=np.float64)
    assert r.profile.centred_fraction == pytest.approx(np.mean(np.abs(p.mean(axis=0)) < p.std(axis=0)))


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
    assert r.cluster.has_cluster and r.heavy_dims == tuple(loud)
    assert r.cluster.std_ratio_groups == pytest.approx(100, rel=0.1)
    assert -2 < r.cluster.log10_threshold < 0
    assert _claim(r, "position_dims_clustered").verdict == "holds"
    assert r.profile.centred_fraction == 1.0


def test_offcentre_dims_lower_the_centred_fraction():
    d, n = 40, 512
    loud = [1, 8, 15, 22, 33]
    positions = _loud_positions(4, n, d, loud)
    positions[:, 15] += 5.0  # |mean| ≈ 5 against std ≈ 1
    positions[:, [2, 3, 4, 5]] += 1.0  # and four quiet dims: |mean| ≈ 1 against std ≈ 0.01
    r = analyse_position(_tokens(d), positions)
    assert r.heavy_dims == tuple(loud)
    assert r.profile.centred_fraction == pytest.approx(35 / 40)
    assert _claim(r, "positions_centred").verdict == "fails"  # under 90% of all dims are centred


@pytest.mark.parametrize("n_loud, cluster", [(2, False), (3, True), (20, True), (28, True)])
def test_the_upper_group_needs_three_dims_and_has_no_upper_cap(n_loud, cluster):
    d = 40
    std = np.full(d, 0.01) * np.exp(np.random.default_rng(5).normal(0, 0.05, d))
    loud = np.random.default_rng(6).choice(d, n_loud, replace=False)
    std[loud] *= 100
    r = analyse_position(_tokens(d), _positions_with_std(std))
    assert r.cluster.has_cluster is cluster
    assert r.heavy_dims == (tuple(sorted(int(i) for i in loud)) if cluster else ())
    assert _claim(r, "position_dims_clustered").verdict == ("holds" if cluster else "fails")


def test_a_clean_split_under_tenfold_is_a_cluster():
    """The fold change is the effect size, not a threshold: a clean fivefold split is a cluster."""
    d = 32
    std = np.full(d, 0.01) * np.exp(np.random.default_rng(7).normal(0, 0.01, d))
    std[[4, 12, 20]] *= 5
    r = analyse_position(_tokens(d), _positions_with_std(std))
    assert r.cluster.ashman_d >= MIN_ASHMAN_D and r.cluster.data_valley < 0.1
    assert r.cluster.std_ratio_groups == pytest.approx(5, rel=0.05) and r.cluster.std_ratio_groups < MIN_STD_RATIO
    assert r.cluster.has_cluster and r.heavy_dims == (4, 12, 20)
    assert _claim(r, "position_dims_clustered").verdict == "holds"


def test_a_tenfold_spread_without_a_gap_is_no_cluster():
    """Heavy-tailed log10 stds spread over ten decades: no dip in the fitted density, so no cluster."""
    log_std = np.array([-5.8, -1.7, -1.55, -1.51, -1.46, -1.4, -1.13, -0.88, -0.82, -0.73, -0.72, -0.69, -0.54,
                        -0.5, -0.41, -0.29, -0.27, -0.1, -0.07, -0.03, 0.05, 0.1, 0.2, 0.48, 0.59, 0.69, 1.0,
                        1.0, 1.04, 1.23, 1.74, 4.21]) - 2
    r = analyse_position(_tokens(len(log_std)), _positions_with_std(10 ** log_std))
    assert not r.cluster.has_cluster and r.heavy_dims == ()
    assert _claim(r, "position_dims_clustered").verdict == "fails"


@pytest.mark.parametrize("d", [64, 768, 1600])
@pytest.mark.parametrize("shape", ["gaussian", "skewed", "lognormal", "heavy-tailed", "uniform", "wide gaussian",
                                   "wide uniform"])
def test_a_unimodal_spread_is_never_a_heavy_cluster(d, shape):
    """The audit's failure: a single spread of ~1 decade (or a right-skewed one) was called a cluster."""
    draw = {"gaussian": lambda rng: rng.normal(-2, 0.25, d),
            "skewed": lambda rng: -2 + 0.3 * (rng.gamma(2, 1, d) - 2) / np.sqrt(2),
            "lognormal": lambda rng: -2.5 + 0.3 * rng.lognormal(0, 0.6, d),
            "heavy-tailed": lambda rng: -2 + 0.15 * rng.standard_t(3, d),
            "uniform": lambda rng: rng.uniform(-2.5, -1.5, d),
            "wide gaussian": lambda rng: rng.normal(-2, 0.8, d),
            "wide uniform": lambda rng: rng.uniform(-5, -1, d)}[shape]
    for seed in range(5):
        log_std = draw(np.random.default_rng(seed))
        assert not heavy_cluster(10 ** log_std)[3], (shape, d, seed)


@pytest.mark.parametrize("d", [768, 1600])
@pytest.mark.parametrize("share", [0.03, 0.6])
def test_a_distinct_cluster_is_found_at_any_weight(d, share):
    """A 3% cluster 1.2 decades up is found, and so is a 60% one (no cap at half the dims)."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        log_std = rng.normal(-2, 0.15, d)
        heavy = rng.choice(d, int(round(share * d)), replace=False)
        log_std[heavy] += 1.2
        fit, mask, ratio, found = heavy_cluster(10 ** log_std)
        assert found and set(np.flatnonzero(mask)) == set(heavy.tolist()), (d, share, seed)


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
    share = dict(zip(r.heavy_dims, r.periodicity.fourier_share))
    period = dict(zip(r.heavy_dims, r.periodicity.dominant_period))
    assert share[4] > 0.99 and period[4] == pytest.approx(64)  # detrending takes a sliver of a sinusoid
    assert share[7] > 0.99 and period[7] == pytest.approx(256)
    assert share[9] > 0.8 and period[9] == pytest.approx(100, rel=0.05)
    assert n / 11 <= period[9] <= n / 10  # the nearest bins to 10.24 cycles
    assert share[12] < 0.1  # white noise spreads over all 512 frequencies
    p = dict(zip(r.heavy_dims, r.periodicity.periodic_p))
    assert p[4] <= 0.01 and p[7] <= 0.01 and p[9] <= 0.01 and p[12] > 0.01
    c = _claim(r, "positions_smooth_periodic")
    assert c.verdict == "holds" and c.value == pytest.approx(3 / 4)


def test_white_noise_heavy_dims_fail_the_periodicity_claim():
    rng = np.random.default_rng(10)
    n, d = 512, 24
    positions = rng.normal(0, 0.001, (n, d))
    positions[:, [0, 6, 13]] = rng.normal(0, 1, (n, 3))
    r = analyse_position(_tokens(d), positions)
    assert r.heavy_dims == (0, 6, 13)
    assert (r.periodicity.fourier_share < 0.2).all()
    assert _claim(r, "positions_smooth_periodic").verdict == "fails"
    assert _claim(r, "positions_smooth_periodic").value == 0.0


@pytest.mark.parametrize("kind", ["random walk", "ramp", "quadratic", "one cycle"])
def test_smooth_curves_without_cycles_are_not_periodic(kind):
    """The audit's failure: a top-3 Fourier share passed a random walk, a ramp and a quadratic."""
    n, d = 1024, 24
    rng = np.random.default_rng(11)
    t = np.arange(n)
    positions = rng.normal(0, 0.001, (n, d))
    for j, dim in enumerate((0, 6, 13, 20)):
        curve = {"random walk": np.cumsum(rng.normal(size=n)), "ramp": t / n,
                 "quadratic": ((t - 300 - 100 * j) / n) ** 2, "one cycle": np.sin(2 * np.pi * t / n + j)}[kind]
        positions[:, dim] = curve / curve.std()
    r = analyse_position(_tokens(d), positions, seed=3)
    assert r.heavy_dims == (0, 6, 13, 20)
    assert _claim(r, "positions_smooth_periodic").verdict == "fails"


@pytest.mark.parametrize("positions", [None, "one-row"])
def test_without_position_embeddings_position_claims_do_not_apply(positions):
    d = 20
    tokens = _tokens(d)
    if positions == "one-row":
        positions = np.ones((1, d))
    r = analyse_position(tokens, positions)
    assert not r.has_positions and not r.cluster.has_cluster and r.heavy_dims == ()
    assert np.array_equal(r.profile.position_mean, np.zeros(d)) and np.array_equal(r.profile.position_std, np.zeros(d))
    assert np.isnan(r.cluster.ashman_d) and np.isnan(r.cluster.log10_threshold) and np.isnan(r.profile.centred_fraction)
    assert np.isnan(r.cluster.std_ratio_groups) and np.isnan(r.cluster.token_std_ratio)
    assert r.periodicity.fourier_share.shape == r.periodicity.dominant_period.shape == (0,)
    for name in ("position_dims_clustered", "low_spread_dims_are_position_dims", "positions_centred",
                 "positions_smooth_periodic"):
        assert _claim(r, name).verdict == "not-applicable" and _claim(r, name).value is None
    # the token-only claims are still judged
    assert _claim(r, "token_dims_striped").verdict in ("holds", "fails")
    assert _claim(r, "few_low_spread_token_dims").verdict in ("holds", "fails")
    np.testing.assert_allclose(r.profile.token_mean, tokens.mean(axis=0), atol=1e-12)


# --- confounds: trained-looking models without the effect, and planted effects at the study's size and half ------


@pytest.mark.parametrize("offset", [0.1, 0.5, 1.0, 2.0])
def test_a_common_mean_in_a_random_direction_is_not_striped(offset):
    """A mean vector in a random direction, per dim `offset` × the typical token std, with per-dim stds spread over
    half a decade: every dim sits off the median, but no dim stands out among the means."""
    d, n = 256, 2000
    for seed in range(4):
        rng = np.random.default_rng(seed)
        scale = 0.1 * 10 ** rng.normal(0, 0.15, d)
        tokens = rng.normal(size=(n, d)) * scale + offset * 0.1 * rng.normal(size=d)
        r = analyse_position(tokens, None, seed=seed)
        assert _claim(r, "token_dims_striped").verdict != "holds", (offset, seed, _claim(r, "token_dims_striped"))


def test_a_few_offset_dims_on_a_random_direction_mean_are_stripes():
    d, n = 256, 2000
    rng = np.random.default_rng(4)
    mean = 0.02 * rng.normal(size=d)  # a common mean in a random direction, 0.2 token std per dim
    mean[[7, 70, 170]] += 0.1  # and three dims one token std off it
    tokens = rng.normal(0, 0.1, (n, d)) + mean
    r = analyse_position(tokens, None, seed=0)
    assert set(r.token_outliers.stripe_dims) == {7, 70, 170} and r.token_outliers.stripe_p <= 0.01
    assert _claim(r, "token_dims_striped").verdict == "holds"


@pytest.mark.parametrize("size, allowed", [(1.0, {"holds"}), (0.5, {"holds", "inconclusive"})])
def test_planted_effects_are_found_at_the_study_size_and_never_fail_at_half(size, allowed):
    for seed in range(3):
        model = planted_model(size, 256, 2000, seed=seed)
        r = analyse_position(model.tokens, model.positions, seed=seed)
        for name in ("token_dims_striped", "position_dims_clustered", "positions_smooth_periodic"):
            assert _claim(r, name).verdict in allowed, (size, seed, _claim(r, name))


def test_a_half_size_cluster_is_a_cluster_though_only_fourfold():
    """10^0.6 ≈ 4× the rest: the split is clean, so the std ratio is reported, not required."""
    d = 768
    for seed in range(3):
        rng = np.random.default_rng(seed)
        log_std = rng.normal(-2, 0.15, d)
        heavy = rng.choice(d, 23, replace=False)
        log_std[heavy] = -2 + 0.6
        fit, mask, ratio, found = heavy_cluster(10 ** log_std)
        assert found and set(np.flatnonzero(mask)) == set(heavy.tolist()) and ratio < MIN_STD_RATIO


def _smooth_curves(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    if kind == "random walk":
        return np.cumsum(rng.normal(size=n))
    if kind == "integrated noise":
        return np.cumsum(np.cumsum(rng.normal(size=n)))
    if kind == "spline":
        knots = int(rng.integers(4, 12))
        return CubicSpline(np.linspace(0, n, knots), rng.normal(size=knots))(t)
    if kind == "gaussian process":  # squared-exponential kernel, a few wiggles over the positions
        freq = np.fft.rfftfreq(4 * n)
        spectrum = np.exp(-2 * (np.pi * freq * rng.uniform(50, 300)) ** 2)
        coefficients = (rng.normal(size=len(freq)) + 1j * rng.normal(size=len(freq))) * np.sqrt(spectrum)
        return np.fft.irfft(coefficients, 4 * n)[:n]
    return np.polynomial.Polynomial(rng.normal(size=int(rng.integers(3, 7))))((t - rng.uniform(0, n)) / n)


@pytest.mark.parametrize("kind", ["random walk", "integrated noise", "spline", "gaussian process", "polynomial"])
def test_smooth_non_periodic_heavy_dims_are_rarely_periodic(kind):
    """The red-noise null's failure: about a tenth of smooth non-periodic dims were called periodic."""
    n, d, k = 1024, 200, 40
    rng = np.random.default_rng(12)
    positions = rng.normal(0, 0.001, (n, d))
    for dim in range(k):
        curve = _smooth_curves(kind, rng, n)
        positions[:, dim] = (curve - curve.mean()) / curve.std()
    r = analyse_position(_tokens(d), positions.astype(np.float32), seed=5)
    assert r.heavy_dims == tuple(range(k))
    assert np.sum(r.periodicity.periodic_p <= 0.01) <= 2  # 1% of 40 dims is 0.4; two allows for chance
    assert _claim(r, "positions_smooth_periodic").verdict == "fails"


def test_high_mean_stripes_do_not_dilute_the_low_spread_high_mean_dims():
    """Claim 5 is about dims that are both low-spread and high-mean: stripe dims (high mean, normal spread) as
    many as the heavy dims leave it holding."""
    from analyses.calibration import planted_model

    model = planted_model(1.0, 128, 3000, seed=7)  # 4 heavy dims, 3 stripes and the unigram dim are mean outliers
    r = analyse_position(model.tokens, model.positions, seed=0)
    c = _claim(r, "low_spread_dims_are_position_dims")
    assert c.verdict == "holds", c
    assert set(r.token_outliers.odd_dims) <= set(r.heavy_dims)
