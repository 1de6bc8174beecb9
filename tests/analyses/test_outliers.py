"""Crowded clumps are found by density wherever they sit; noise has none; neighbours match brute force; claim 24
needs a clump tight in angle and (with frequencies) of rare tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analyses import outliers
from analyses.outliers import (
    MIN_CLUMP,
    N_EXTREMES,
    N_NEIGHBOURS,
    ClumpEvidence,
    K,
    Rarity,
    _angular_spread,
    _claim24,
    analyse_outliers,
    rarity,
)
from analyses.vectors import row_norms


def brute_force_crowded(w: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The crowding rule from the full float64 distance matrix: (crowded ids, their K-th neighbour distance)."""
    w64 = w.astype(np.float64)
    kth = np.empty(len(w))
    for a in range(0, len(w), 64):
        d = np.linalg.norm(w64[a:a + 64, None, :] - w64[None, :, :], axis=2)
        d[np.arange(len(d)), np.arange(a, a + len(d))] = np.inf
        kth[a:a + 64] = np.partition(d, K - 1, axis=1)[:, K - 1]
    crowded = np.flatnonzero(kth <= threshold)
    return crowded, kth[crowded]


def noise_with_clump(where: str, n: int = 3000, d: int = 64, size: int = 15, seed: int = 0):
    """Tokens spread like trained ones (a shared mean, varied lengths) and a clump of near-identical ones."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 0.3, d)
    w = mean + rng.normal(size=(n, d)) * rng.lognormal(0, 0.2, size=(n, 1))
    members = np.sort(rng.choice(n, size=size, replace=False))
    if where == "near":  # short vectors close to the centroid, as in gpt2
        centre = 0.3 * mean
    else:  # long vectors far from the centroid, as glitch tokens in gpt2-xl
        centre = mean + 4 * np.sqrt(d) * rng.normal(size=d) / np.sqrt(d)
    w[members] = centre + rng.normal(0, 0.02, size=(size, d))
    return w.astype(np.float32), tuple(int(i) for i in members)


@pytest.mark.parametrize("where", ["near", "far"])
def test_clump_is_found_wherever_it_sits(where):
    w, members = noise_with_clump(where)
    r = analyse_outliers(w, unigram_dim=None, seed=0)
    assert r.clumps and set(members) <= set(r.clumps[0]) and len(r.clumps[0]) <= len(members) + 2
    assert r.clump_token_ids == r.clumps[0] and r.exhaustive
    crowded, _ = brute_force_crowded(w, r.threshold)  # the search is exhaustive: exactly the rule's tokens
    assert r.crowded == tuple(crowded)
    norms_pct = np.median([np.mean(r.norms < r.norms[i]) for i in members])
    assert (norms_pct < 0.05) if where == "near" else (norms_pct > 0.95)


def test_planted_clump_is_found(planted, planted_ctx):
    r = planted_ctx.results["outliers"]
    found = set(r.clump_token_ids)
    assert set(planted.clump) <= found
    assert len(found - set(planted.clump)) <= 2
    assert r.clump_token_ids == tuple(sorted(found))


def test_claim_24_holds_on_planted_and_fails_on_noise(planted_ctx, unplanted_ctx):
    planted_claim = planted_ctx.results["outliers"].claims[0]
    assert planted_claim.name == "rare_token_clump" and planted_claim.verdict == "holds"
    noise = unplanted_ctx.results["outliers"]
    assert noise.clumps == () and noise.clump_token_ids == ()
    assert noise.claims[0].verdict == "fails"


def test_no_clump_in_pure_noise():
    rng = np.random.default_rng(3)
    r = analyse_outliers(rng.normal(size=(4000, 48)).astype(np.float32), unigram_dim=5, seed=1)
    assert r.clumps == () and r.crowded == ()


def test_far_clump_fails_claim_24_and_unigram_part_is_used():
    w, members = noise_with_clump("far")
    r = analyse_outliers(w, unigram_dim=3, seed=0)
    if r.exhaustive:
        assert r.claims[0].verdict == "fails"
        assert "unigram dim 3" in r.claims[0].detail
    else:  # a partial search never decides the claim
        assert r.claims[0].verdict == "not-applicable" and "stopped before checking" in r.claims[0].detail


def evidence(percentiles=(0.05, 0.05, 0.1), tight=True, ratio=0.01, rare=None) -> ClumpEvidence:
    return ClumpEvidence(8, ratio * 0.5, ratio, tight, percentiles, rare)


def test_claim_24_is_not_applicable_on_a_partial_search():
    """A clump that would make the claim hold still gives no verdict when the search was not exhaustive."""
    assert _claim24(evidence(), 3, complete=True).verdict == "holds"
    partial = _claim24(evidence(), 3, complete=False)
    assert partial.verdict == "not-applicable" and partial.value is None
    assert _claim24(None, 3, complete=False).verdict == "not-applicable"  # "no clump" needs a full search too
    assert _claim24(None, 3, complete=True).verdict == "fails"


def test_without_unigram_dim_only_norm_is_tested():
    w, _ = noise_with_clump("near")
    r = analyse_outliers(w, unigram_dim=None, seed=0)
    assert r.claims[0].verdict == "holds" and "only the norm part" in r.claims[0].detail
    claim = _claim24(evidence((0.05, float("nan"), 0.1)), None, complete=True)
    assert claim.verdict == "holds" and "only the norm part" in claim.detail


def test_claim_24_parts_combine_three_ways():
    """Any part that fails makes the claim fail; all parts holding make it hold; anything else is inconclusive."""
    rare, common, between = Rarity(8, 8, 0.05, 0.1, 0.001), Rarity(8, 8, 0.7, 0.7, 0.9), Rarity(8, 8, 0.3, 0.3, 0.2)
    assert _claim24(evidence(rare=rare), 3).verdict == "holds"
    assert _claim24(evidence(rare=common), 3).verdict == "fails"
    assert _claim24(evidence(rare=between), 3).verdict == "inconclusive"
    assert _claim24(evidence(rare=Rarity(8, 8, 0.2, 0.3, 0.2)), 3).verdict == "inconclusive"  # low, not shown rare
    assert _claim24(evidence(tight=False, ratio=0.7), 3).verdict == "inconclusive"  # tighter than typical, not a clump
    assert _claim24(evidence(tight=False, ratio=1.3), 3).verdict == "fails"
    assert _claim24(evidence(tight=False, ratio=0.7, percentiles=(0.6, 0.05, 0.5)), 3).verdict == "fails"
    assert _claim24(evidence(percentiles=(0.05, 0.4, 0.1)), 3).verdict == "fails"  # unigram value not low


def test_small_groups_are_not_clumps():
    w, members = noise_with_clump("near", size=MIN_CLUMP - 2)
    r = analyse_outliers(w, unigram_dim=None, seed=0)
    assert r.clumps == ()


def test_crowding_distances_are_exact():
    w, members = noise_with_clump("near", n=800)
    r = analyse_outliers(w, unigram_dim=None, seed=0)
    w64 = w.astype(np.float64)
    for token_id, distance in list(r.crowding.items())[:40] + [(i, r.crowding[i]) for i in r.crowded]:
        d = np.sort(np.linalg.norm(w64 - w64[token_id], axis=1))[1:]
        assert distance == pytest.approx(d[4], rel=1e-9)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_crowded_tokens_match_brute_force_on_adversarial_matrices(monkeypatch, precision):
    """Duplicates, groups at exactly the threshold's scale, and many near-copies: the exhaustive pass finds
    exactly the rule's crowded tokens in either screen precision."""
    from analyses.pairs import token_pairs

    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 128)
    monkeypatch.setattr(token_pairs, "COLUMN_CHUNK", 256)
    monkeypatch.setenv("WEIGHTS_REPORT_SCREEN", precision)
    rng = np.random.default_rng(12)
    w = rng.normal(size=(1200, 24)) * rng.lognormal(0, 0.3, size=(1200, 1))
    w[600:640] = w[:40] + rng.normal(0, 0.05, size=(40, 24))  # near-copies
    w[700:712] = w[50]  # exact duplicates
    w[800:820] = 0.5 * w[60] + rng.normal(0, 0.3, size=(20, 24))  # a loose group near the threshold's scale
    w = w.astype(np.float32)
    r = analyse_outliers(w, unigram_dim=None, seed=2)
    crowded, kth = brute_force_crowded(w, r.threshold)
    assert r.crowded == tuple(crowded) and len(crowded) >= 12
    np.testing.assert_allclose([r.crowding[i] for i in crowded], kth, rtol=1e-12)


def test_extremes_and_neighbours_match_brute_force():
    w, members = noise_with_clump("near", n=900)
    r = analyse_outliers(w, unigram_dim=None, extra_notable=(5, 6), seed=0)
    norms = np.linalg.norm(w.astype(np.float64), axis=1)
    assert r.longest == tuple(np.argsort(-norms, kind="stable")[:N_EXTREMES])
    assert r.shortest == tuple(np.argsort(norms, kind="stable")[:N_EXTREMES])
    assert {5, 6, *members, *r.longest} <= set(r.neighbours)
    unit = w.astype(np.float64) / norms[:, None]
    for token_id in (5, r.longest[0], members[0]):
        cos = unit @ unit[token_id]
        cos[token_id] = -np.inf
        expected = np.argsort(-cos, kind="stable")[:N_NEIGHBOURS]
        got = r.neighbours[token_id]
        assert token_id not in [v for v, _ in got] and len(got) == N_NEIGHBOURS
        np.testing.assert_allclose([c for _, c in got], cos[expected], atol=1e-5)


def test_outputs_are_deterministic():
    w, _ = noise_with_clump("far", n=1500)
    a, b = analyse_outliers(w, None, seed=4), analyse_outliers(w, None, seed=4)
    assert a.clumps == b.clumps and a.crowding == b.crowding and a.neighbours == b.neighbours


def test_results_json_has_the_contract_keys(planted_ctx):
    from report.sections.outliers import SECTION

    fragment = SECTION.to_json(planted_ctx.results["outliers"], planted_ctx)
    assert {"clump_token_ids", "clumps", "rule", "longest", "shortest", "neighbours"} <= set(fragment)
    assert fragment["clump_token_ids"] == sorted(fragment["clump_token_ids"])
    assert len(fragment["longest"]) == N_EXTREMES


def test_clump_of_identical_rows_is_found_and_counted():
    """Exact copies run through the pass once; the clump, the crowded tokens and the pair count still cover
    every copy."""
    w, _ = noise_with_clump("near", n=2000, size=1)
    members = np.arange(100, 400)
    w[members] = w[50]  # 301 identical rows with token 50
    r = analyse_outliers(w, None)
    crowded, _ = brute_force_crowded(w, r.threshold)
    np.testing.assert_array_equal(r.crowded, crowded)
    assert set(r.clumps[0]) >= {50, *members.tolist()}
    w64 = w.astype(np.float64)
    within = sum(int((np.linalg.norm(w64[a + 1:] - w64[a], axis=1) <= r.threshold).sum()) for a in range(len(w)))
    assert r.near_pairs == within >= 301 * 300 // 2


def trained_like(n: int = 3000, d: int = 64, seed: int = 0):
    """Tokens spread like trained ones (a shared mean, varied lengths), a Zipf-like log frequency falling with
    the token index, and the generator for more."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 0.3, d)
    w = mean + rng.normal(size=(n, d)) * rng.lognormal(0, 0.2, size=(n, 1))
    log_frequency = -np.log1p(np.arange(n)) + rng.normal(0, 1, n)
    return w, log_frequency, rng


def short_frequent(seed: int = 0, share: float = 0.03, shrink: float = 0.1):
    """Norms spread widely and no clump: the most frequent tokens are short (and lowest on dim 3) but point
    every which way, as the shortest vectors of a trained model do."""
    w, log_frequency, rng = trained_like(seed=seed)
    w[:, 3] += 2.0  # shrunk tokens end up lowest on dim 3 too: the unigram part alone cannot tell
    frequent = np.argsort(-log_frequency)[: int(share * len(w))]
    w[frequent] *= shrink * rng.lognormal(0, 0.3, (len(frequent), 1))
    return w.astype(np.float32), log_frequency, frequent


def with_clump(noise: float = 0.02, rare: bool = True, size: int = 15, seed: int = 0):
    """A clump of near-identical tokens at low norm and the lowest dim-3 value, drawn from the rarest 5% of
    tokens (or, not `rare`, the most frequent 5%)."""
    w, log_frequency, rng = trained_like(seed=seed)
    order = np.argsort(log_frequency if rare else -log_frequency)
    members = np.sort(rng.choice(order[: len(w) // 20], size, replace=False))
    centre = 0.3 * w.mean(axis=0)
    centre[3] = w[:, 3].min()
    w[members] = centre + rng.normal(0, noise, (size, w.shape[1]))
    return w.astype(np.float32), log_frequency, tuple(int(i) for i in members)


def random_directions(w: np.ndarray, seed: int = 0) -> np.ndarray:
    """The null: every token keeps its norm and gets a random Gaussian direction."""
    g = np.random.default_rng(seed).normal(size=w.shape)
    return (g * (np.linalg.norm(w, axis=1) / np.linalg.norm(g, axis=1))[:, None]).astype(np.float32)


@pytest.mark.parametrize("unigram_dim", [None, 3])
@pytest.mark.parametrize("frequency", [False, True])
def test_short_frequent_tokens_are_not_a_clump(unigram_dim, frequency):
    """Short vectors are close in distance only because they are short: a crowded group, but not tight in angle."""
    w, log_frequency, frequent = short_frequent()
    r = analyse_outliers(w, unigram_dim, seed=0, log_frequency=log_frequency if frequency else None)
    assert r.candidates and set(r.candidates[0]) <= set(frequent.tolist())  # the old rule's "clump"
    assert r.clumps == () and r.clump_token_ids == ()
    assert r.evidence.angular_ratio > 1 and r.claims[0].verdict == "fails"


@pytest.mark.parametrize("unigram_dim", [None, 3])
@pytest.mark.parametrize("model", ["short_frequent", "rare_clump"])
def test_norm_preserving_random_directions_give_no_clump(model, unigram_dim):
    """The null keeps every norm and randomises directions: the short tokens still crowd in distance (a
    candidate group for short_frequent), never in angle."""
    w, log_frequency = (short_frequent() if model == "short_frequent" else with_clump())[:2]
    r = analyse_outliers(random_directions(w), unigram_dim, seed=0, log_frequency=log_frequency)
    assert bool(r.candidates) == (model == "short_frequent")
    assert r.clumps == () and r.claims[0].verdict == "fails"


@pytest.mark.parametrize("frequency", [False, True])
def test_planted_rare_clump_holds_and_half_as_tight_does_not_fail(frequency):
    for noise, allowed in ((0.02, {"holds"}), (0.04, {"holds", "inconclusive"})):
        w, log_frequency, members = with_clump(noise)
        r = analyse_outliers(w, 3, seed=0, log_frequency=log_frequency if frequency else None)
        assert set(members) <= set(r.clump_token_ids) and r.evidence.tight
        assert r.claims[0].verdict in allowed, r.claims[0].detail
        assert (r.evidence.rarity is not None) == frequency


def test_clump_of_frequent_tokens_is_not_rarely_trained():
    """The claim is about rarely trained tokens: with a frequency source, a tight low clump of frequent tokens
    does not make it hold (without one, only where the clump sits can be tested)."""
    w, log_frequency, members = with_clump(rare=False)
    r = analyse_outliers(w, 3, seed=0, log_frequency=log_frequency)
    assert set(members) <= set(r.clump_token_ids)
    assert r.evidence.rarity.percentile > 0.9 and r.claims[0].verdict == "fails"
    assert analyse_outliers(w, 3, seed=0).claims[0].verdict == "holds"


def test_rarity_against_random_sets():
    rng = np.random.default_rng(5)
    log_frequency = rng.normal(size=2000)
    rarest = np.argsort(log_frequency)[:20]
    found = rarity(rarest, log_frequency, seed=1)
    assert found.percentile < 0.01 and found.p_value < 0.01 and found.known == 20
    typical = rarity(rng.choice(2000, 20, replace=False), log_frequency, seed=1)
    assert 0.2 < typical.percentile < 0.8 and typical.p_value > 0.05
    log_frequency[:1200] = -np.inf  # most tokens never seen in the corpus: ties at the bottom
    unseen = rarity(np.arange(20), log_frequency, seed=1)
    assert unseen.percentile == 0.0 and unseen.p_value < 0.01  # the rank sum still tells them from random sets
    log_frequency[:15] = np.nan  # unknown (proxy not reaching them): too few members left to test
    assert rarity(np.arange(20), log_frequency, seed=1) is None
    assert rarity(rarest, log_frequency, seed=1) == rarity(rarest, log_frequency, seed=1)


def test_angular_spread_and_scale_match_brute_force():
    w, _, _ = with_clump(0.3)
    members = np.array([1, 5, 9, 400, 401, 402, 2999])
    w[9] = 0  # no direction: left out
    units = w[members[members != 9]].astype(np.float64)
    units /= np.linalg.norm(units, axis=1)[:, None]
    cos = units @ units.T
    pairs = ~np.eye(len(units), dtype=bool)
    assert _angular_spread(w, members) == pytest.approx(np.mean(1 - cos[pairs]), rel=1e-9)
    assert _angular_spread(w, np.array([9, 9, 1])) == 0.0
    r = analyse_outliers(w, None, seed=3)
    sample = np.sort(np.random.default_rng(3).choice(len(w), size=512, replace=False))  # crowding_scale's draw
    w64 = w.astype(np.float64)
    unit = w64 / np.maximum(np.linalg.norm(w64, axis=1), 1e-300)[:, None]
    cos = unit[sample] @ unit.T
    cos[np.arange(len(sample)), sample] = -np.inf
    kth = -np.partition(-cos, K - 1, axis=1)[:, K - 1]
    np.testing.assert_allclose(r.angular.distances, 1 - kth, atol=1e-5)
    assert r.angular.threshold <= 0.5 * r.angular.median


def _top_cosines_from_a_unit_copy(w: torch.Tensor, norms: np.ndarray, ids: list[int], count: int) -> dict:
    """The tables as they were made from a whole unit-norm copy of the matrix (the reference)."""
    scale = torch.as_tensor(np.where(norms > 0, norms, 1.0), dtype=torch.float32)
    unit = w / scale[:, None]
    keep = min(count + 8, w.shape[0])
    out = {}
    for a in range(0, len(ids), 256):
        rows = torch.as_tensor(ids[a:a + 256])
        cos = unit[rows] @ unit.T
        cos[torch.arange(len(rows)), rows] = -float("inf")
        values, indices = torch.topk(cos, keep, dim=1)
        for row, vals, cols in zip(ids[a:a + 256], values.numpy(), indices.numpy()):
            order = np.lexsort((cols, -vals))[:count]
            out[int(row)] = tuple((int(cols[j]), float(vals[j])) for j in order if np.isfinite(vals[j]))
    return out


@pytest.mark.parametrize("unit_block", [7, 300, 16384])
def test_blockwise_cosine_tables_equal_the_unit_copy_ones(monkeypatch, unit_block):
    """The same neighbours in the same order, and the same float32 quotients, with the unit rows made a block at a
    time. The cosines agree to float32 rounding, not always bit for bit: the BLAS may sum a product of 7 key rows
    in another order than one of 1,000 (it does on AMD EPYC with torch's CPU wheel, not on Intel Xeon)."""
    monkeypatch.setattr(outliers, "UNIT_BLOCK", unit_block)
    rng = np.random.default_rng(31)
    w = (rng.normal(size=(1000, 40)) * rng.lognormal(0, 0.5, size=(1000, 1))).astype(np.float32)
    w[500:510] = w[3]  # exact ties: identical columns of one product are equal, so the lower ids win in both
    w[600] = 0  # a zero row
    norms = row_norms(w)
    ids = [3, 600, 999, *range(0, 1000, 3)]
    t = torch.as_tensor(w)
    blockwise, reference = outliers._top_cosines(t, norms, ids, 9), _top_cosines_from_a_unit_copy(t, norms, ids, 9)
    assert blockwise.keys() == reference.keys()
    for row in reference:
        assert [n for n, _ in blockwise[row]] == [n for n, _ in reference[row]], row
        np.testing.assert_allclose([c for _, c in blockwise[row]], [c for _, c in reference[row]], rtol=1e-6, atol=1e-7)
    assert [n for n, _ in blockwise[3]] == list(range(500, 509))
