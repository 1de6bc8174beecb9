"""SVD of the token embeddings: the spectrum, orientation of components 0-2, component 0 against the mean,
word starts on components 1-2, the norm-extremes null and its linear-time top/bottom-k helper, claims 15-19."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.svd import N_COMPONENTS, N_EXTREMES, N_NULL, _ends, _norm_extremes, analyse_svd


def _claim(result, claim_id):
    return next(c for c in result.claims if c.id == claim_id)


def _stable_ends(values: np.ndarray, k: int) -> set[int]:
    order = np.argsort(values, kind="stable")
    return {int(i) for i in order[-k:]} | {int(i) for i in order[:k]}


def _brute_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _offset_rows(n: int, d: int, offset: np.ndarray, noise: float, seed: int) -> np.ndarray:
    return offset + np.random.default_rng(seed).normal(0, noise, (n, d))


# --- the planted checkpoint ---------------------------------------------------------------------------


def test_planted_singular_values_match_float64_svd(planted_ctx):
    r = planted_ctx.results["svd"]
    expected = np.linalg.svd(np.asarray(planted_ctx.embeddings, dtype=np.float64), compute_uv=False)
    assert r.singular_values.shape == expected.shape
    assert (np.diff(r.singular_values) <= 0).all()
    # the Gram matrix is accumulated in float64, so even the smallest values keep their relative precision
    np.testing.assert_allclose(r.singular_values, expected, rtol=1e-9)


def test_planted_directions_are_orthonormal_and_oriented(planted_ctx):
    r = planted_ctx.results["svd"]
    tokens = np.asarray(planted_ctx.embeddings, dtype=np.float64)
    mean = tokens.mean(axis=0)
    assert r.directions.shape == (N_COMPONENTS, tokens.shape[1])
    np.testing.assert_allclose(r.directions @ r.directions.T, np.eye(N_COMPONENTS), atol=1e-10)
    assert r.directions[0] @ mean > 0
    for k in (1, 2):
        assert r.directions[k][np.argmax(np.abs(r.directions[k]))] > 0
    # each direction is a right singular vector: W v = σ u with |u| = 1
    for k in range(N_COMPONENTS):
        assert np.linalg.norm(tokens @ r.directions[k]) == pytest.approx(r.singular_values[k], rel=1e-6)
    np.testing.assert_allclose(r.coordinates, tokens @ r.directions.T, atol=1e-5)
    np.testing.assert_allclose(r.norms, np.linalg.norm(tokens, axis=1), rtol=1e-6)


def test_planted_component0_is_the_mean_and_shares_one_sign(planted_ctx):
    r = planted_ctx.results["svd"]
    mean = np.asarray(planted_ctx.embeddings, dtype=np.float64).mean(axis=0)
    assert r.cos_svd0_mean == pytest.approx(r.directions[0] @ mean / np.linalg.norm(mean), rel=1e-9)
    assert r.cos_svd0_mean > 0.95 and _claim(r, 15).verdict == "holds"
    same = max(np.mean(r.coordinates[:, 0] > 0), np.mean(r.coordinates[:, 0] < 0))
    assert r.svd0_same_sign_fraction == pytest.approx(same)
    assert r.svd0_same_sign_fraction >= 0.99 and _claim(r, 16).verdict == "holds"


def test_planted_word_starts_split_on_components_1_and_2(planted_ctx):
    r = planted_ctx.results["svd"]
    labels = np.asarray(planted_ctx.word_start, dtype=bool)
    assert 0 < labels.sum() < len(labels)
    assert np.linalg.norm(r.split_direction) == pytest.approx(1)
    score = r.coordinates[:, 1:3] @ r.split_direction
    assert r.word_start_auroc == pytest.approx(_brute_auroc(score, labels), abs=1e-12)
    assert r.word_start_auroc > 0.95 and _claim(r, 19).verdict == "holds"


def test_planted_norm_extremes_are_the_longest_and_shortest_tokens(planted_ctx):
    r = planted_ctx.results["svd"]
    order = np.argsort(r.norms, kind="stable")
    expected = list(order[-N_EXTREMES:][::-1]) + list(order[:N_EXTREMES])
    assert list(r.extreme_ids) == [int(i) for i in expected]
    n = len(r.norms)
    percentile = (np.argsort(np.argsort(r.coordinates[:, 0])) + 0.5) / n
    high, low = percentile[expected[:N_EXTREMES]].mean(), percentile[expected[N_EXTREMES:]].mean()
    assert (r.longest_percentile, r.shortest_percentile) == pytest.approx((high, low))
    assert r.extremeness == pytest.approx(max(min(high, 1 - low), min(1 - high, low)))
    assert 1 / (N_NULL + 1) <= r.extremeness_null_p <= 1
    assert r.extremeness_null_p == max(r.group_null_p)
    holds = r.extremeness >= 0.8 and r.extremeness_null_p < 0.01
    assert _claim(r, 17).verdict == ("holds" if holds else "fails")


def test_planted_unigram_loading_is_read_off_direction0(planted_ctx, planted):
    r = planted_ctx.results["svd"]
    u = planted_ctx.results["unigram"].dim
    assert u == planted.spec.unigram_dim
    loadings = np.abs(r.directions[0])
    assert r.unigram_loading == pytest.approx(loadings[u])
    assert r.unigram_loading_rank == int(np.sum(loadings > loadings[u]))
    d = len(loadings)
    assert _claim(r, 18).verdict == ("holds" if loadings[u] >= 3 / np.sqrt(d) else "fails")


def test_unplanted_noise_fails_the_svd_claims(unplanted_ctx):
    r = unplanted_ctx.results["svd"]
    assert r.cos_svd0_mean < 0.5 and _claim(r, 15).verdict == "fails"
    assert r.svd0_same_sign_fraction < 0.6 and _claim(r, 16).verdict == "fails"
    assert r.word_start_auroc < 0.7 and _claim(r, 19).verdict == "fails"


# --- synthetic matrices ------------------------------------------------------------------------------


def test_a_common_offset_becomes_component0():
    d = 24
    offset = np.zeros(d)
    offset[2] = 1.0
    offset[[5, 9]] = 0.3
    w = _offset_rows(3000, d, offset, 0.05, seed=0)
    r = analyse_svd(w, np.random.default_rng(1).random(3000) < 0.4, unigram_dim=2, seed=0)
    assert r.cos_svd0_mean > 0.999 and _claim(r, 15).verdict == "holds"
    assert r.directions[0] @ offset > 0
    assert r.svd0_same_sign_fraction == 1.0
    # a dim with a large mean loads on component 0 through its mean alone: claim 18 needs it to be a unigram dim
    assert r.unigram_loading_rank == 0 and r.unigram_loading > 0.9 and _claim(r, 18).verdict == "inconclusive"
    np.testing.assert_allclose(r.singular_values, np.linalg.svd(w, compute_uv=False), rtol=1e-5)
    labels = np.random.default_rng(1).random(3000) < 0.4
    for carries, verdict in ((True, "holds"), (False, "fails"), (None, "inconclusive")):
        found = analyse_svd(w, labels, unigram_dim=2, seed=0, unigram_carries_frequency=carries)
        assert _claim(found, 18).verdict == verdict, (carries, _claim(found, 18))
    weak = analyse_svd(w, labels, unigram_dim=7, seed=0, unigram_carries_frequency=True)  # a centred dim
    assert _claim(weak, 18).verdict == "fails"


def test_a_negative_offset_still_orients_component0_to_the_mean():
    d = 12
    offset = -np.linspace(0.5, 1.0, d)
    w = _offset_rows(1000, d, offset, 0.05, seed=2)
    r = analyse_svd(w, np.arange(1000) % 3 == 0, None, seed=0)
    assert r.directions[0] @ w.mean(axis=0) > 0
    assert (r.coordinates[:, 0] > 0).all() and r.cos_svd0_mean > 0.999


def test_zero_mean_isotropic_rows_give_a_small_cos():
    w = np.random.default_rng(3).normal(0, 1, (4000, 32))
    r = analyse_svd(w, np.random.default_rng(4).random(4000) < 0.5, None, seed=0)
    assert r.cos_svd0_mean < 0.5 and _claim(r, 15).verdict == "fails"
    assert r.svd0_same_sign_fraction < 0.55 and _claim(r, 16).verdict == "fails"
    assert r.word_start_auroc < 0.6 and _claim(r, 19).verdict == "fails"  # labels unrelated to the rows


def test_component0_orthogonal_to_a_small_mean_gives_cos_near_zero():
    rng = np.random.default_rng(5)
    n, d = 4000, 16
    w = rng.normal(0, 0.05, (n, d))
    w[:, 0] += np.where(np.arange(n) % 2 == 0, 3.0, -3.0)  # large spread along e0, symmetric
    w[:, 1] += 0.5  # the mean lies along e1
    r = analyse_svd(w, np.arange(n) % 5 == 0, None, seed=0)
    assert abs(r.directions[0][0]) > 0.99
    assert r.cos_svd0_mean < 0.05 and _claim(r, 15).verdict == "fails"
    assert r.svd0_same_sign_fraction == pytest.approx(0.5)


def test_word_starts_planted_on_a_later_component_are_separated():
    rng = np.random.default_rng(6)
    n, d = 3000, 20
    labels = rng.random(n) < 0.3
    w = rng.normal(0, 0.1, (n, d))
    w[:, 0] += 2.0  # component 0: the offset
    w[:, 3] += np.where(labels, 0.5, -0.5)  # components 1-2 carry the word-start split
    r = analyse_svd(w, labels, None, seed=0)
    assert abs(r.directions[1][3]) > 0.9 or abs(r.directions[2][3]) > 0.9
    assert r.word_start_auroc > 0.99 and _claim(r, 19).verdict == "holds"
    assert r.word_start_ashman_d > 2


@pytest.mark.parametrize("labels", ["none", "all"])
def test_without_both_label_classes_word_start_claim_does_not_apply(labels):
    w = _offset_rows(500, 10, np.ones(10), 0.1, seed=7)
    r = analyse_svd(w, np.full(500, labels == "all"), None, seed=0)
    assert np.isnan(r.word_start_auroc) and np.isnan(r.word_start_ashman_d)
    assert np.array_equal(r.split_direction, np.zeros(2))
    assert _claim(r, 19).verdict == "not-applicable" and _claim(r, 19).value is None


def test_without_a_unigram_dim_its_claim_does_not_apply():
    w = _offset_rows(500, 10, np.ones(10), 0.1, seed=8)
    r = analyse_svd(w, np.arange(500) % 2 == 0, None, seed=0)
    assert np.isnan(r.unigram_loading) and r.unigram_loading_rank == -1
    assert _claim(r, 18).verdict == "not-applicable"


# --- the norm-extremes null ---------------------------------------------------------------------------


def _component0_and_residual(rng, n: int, d: int, residual_norm) -> np.ndarray:
    c = 5 + rng.normal(0, 0.3, n)
    r = rng.normal(size=(n, d - 1))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    return np.column_stack([c, r * residual_norm(c)[:, None]])


def test_norm_extremes_beyond_the_null_give_the_smallest_p():
    """Residual norms that grow with component 0 put the norm extremes at its ends more than any shuffle."""
    w = _component0_and_residual(np.random.default_rng(9), 2000, 16, lambda c: 1.5 + 3 * (c - 5))
    r = analyse_svd(w, np.arange(2000) % 3 == 0, None, seed=0)
    assert r.extremeness > 0.95 and _claim(r, 17).verdict == "holds"
    assert r.extremeness_null_p == pytest.approx(1 / (N_NULL + 1))


def test_norm_extremes_explained_by_component0_alone_are_not_significant():
    """Constant residual norms: the norm is a function of component 0 only, exactly the null model."""
    w = _component0_and_residual(np.random.default_rng(10), 2000, 16, lambda c: np.ones_like(c))
    r = analyse_svd(w, np.arange(2000) % 3 == 0, None, seed=0)
    assert r.extremeness > 0.95
    assert r.extremeness_null_p > 0.5


def test_null_p_is_deterministic_in_the_seed_and_valid_across_seeds():
    rng = np.random.default_rng(11)
    svd0 = rng.normal(3, 1, 800)
    norms = np.sqrt(svd0 ** 2 + rng.gamma(2.0, 1.0, 800))
    first = _norm_extremes(svd0, norms, seed=5)
    assert _norm_extremes(svd0, norms, seed=5) == first
    ps = {_norm_extremes(svd0, norms, seed=s)[3] for s in range(6)}
    for p in ps:
        assert 1 / (N_NULL + 1) <= p <= 1
        assert (p * (N_NULL + 1)) == pytest.approx(round(p * (N_NULL + 1)))  # (1 + count) / (1 + N_NULL)
    # ids and observed ignore the seed
    assert {_norm_extremes(svd0, norms, seed=s)[:3] for s in range(6)} == {first[:3]}
    assert first[3] == max(first[4])  # the pair's p is the weaker group's


def test_a_residual_larger_at_both_ends_of_component0_does_not_make_the_claim():
    """Residual norms that grow with |component 0 − its centre| push the longest tokens to the high end but the
    shortest away from the low end: only one group is extreme beyond the null, so the claim fails (the
    mean-shifted random matrices of the calibration showed a mild form of this)."""
    w = _component0_and_residual(np.random.default_rng(13), 3000, 16, lambda c: 1.5 + 2 * np.abs(c - 5))
    r = analyse_svd(w, np.arange(3000) % 3 == 0, None, seed=0)
    p_long, p_short = r.group_null_p
    assert r.longest_percentile > 0.9 and p_long < 0.01
    assert p_short > 0.05 and r.extremeness_null_p == p_short
    assert _claim(r, 17).verdict == "fails"


def test_claim17_on_the_calibration_models():
    """A mean-shifted random matrix (its norm tied to component 0 through the mean alone) does not make the claim;
    the planted study-size norm effect does. The null model is the seed that gave a false positive before each
    group was tested toward its own end."""
    from analyses.calibration import null_model, planted_model

    null = null_model("mean-shifted", 768, 4000, seed=768 + 4000 + 5)
    r = analyse_svd(null.tokens, null.word_start, None, seed=0)
    assert r.longest_percentile > 0.95  # the longest are at the high end (the mean direction) ...
    assert _claim(r, 17).verdict == "fails"  # ... but the shortest are where the null puts them
    study = planted_model(1.0, 768, 4000, seed=768 + 4000 + 11)
    r = analyse_svd(study.tokens, study.word_start, None, seed=0)
    assert _claim(r, 17).verdict == "holds" and max(r.group_null_p) < 0.01


def test_extremes_at_the_same_end_are_not_extreme_in_the_claimed_sense():
    """The old two-sided measure counted the longest and the shortest tokens as extreme even when both sat at
    the same end of component 0; the claim needs them at opposite ends."""
    rng = np.random.default_rng(12)
    svd0 = rng.uniform(1, 5, 2000)
    norms = np.full(2000, 6.0) + rng.normal(0, 0.01, 2000)
    low_end = np.argsort(svd0)[:60]
    norms[low_end[::2]] = 20 + rng.random(30)  # the longest, at the low end
    norms[low_end[1::2]] = 1 + rng.random(30)  # the shortest, at the low end too
    _, (p_long, p_short), observed, _, _ = _norm_extremes(svd0, norms, seed=0)
    assert p_long < 0.05 and p_short < 0.05
    assert observed < 0.1  # two-sided, the mean of 2·|percentile − 0.5| would be ≈ 0.97


def test_analyse_svd_is_deterministic_in_the_seed(planted_ctx):
    a = analyse_svd(planted_ctx.embeddings, planted_ctx.word_start, None, seed=3)
    b = analyse_svd(planted_ctx.embeddings, planted_ctx.word_start, None, seed=3)
    c = analyse_svd(planted_ctx.embeddings, planted_ctx.word_start, None, seed=4)
    assert a.extremeness_null_p == b.extremeness_null_p
    assert a.extreme_ids == c.extreme_ids and a.extremeness == c.extremeness
    assert 0 <= c.extremeness_null_p <= 1


# --- _ends: the top and bottom k without a full sort ------------------------------------------------------


@pytest.mark.parametrize("ties", [True, False])
def test_ends_matches_a_stable_argsort(ties):
    rng = np.random.default_rng(12 if ties else 13)
    for _ in range(300):
        n = int(rng.integers(4, 400))
        k = int(rng.integers(1, n // 4 + 1))
        if ties:
            values = rng.integers(0, int(rng.integers(1, 8)), n).astype(np.float64)  # many equal values
        else:
            values = rng.normal(size=n)
        got = _ends(values, k)
        assert len(got) == 2 * k and len(set(got.tolist())) == 2 * k, (n, k)
        assert set(got.tolist()) == _stable_ends(values, k), (n, k, values.tolist())


@pytest.mark.parametrize("n, k", [(4, 1), (8, 2), (100, 25), (41, 10)])
def test_ends_on_all_equal_values_takes_the_first_and_last_ids(n, k):
    values = np.full(n, 2.5)
    assert set(_ends(values, k).tolist()) == set(range(k)) | set(range(n - k, n))


def test_ends_puts_later_ids_above_among_ties_at_the_cut():
    values = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    # top 2: the 2.0 and the last 1.0 (id 6); bottom 2: the 0.0 and the first 1.0 (id 1)
    assert set(_ends(values, 2).tolist()) == {7, 6, 0, 1}
