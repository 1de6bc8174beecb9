"""Error rates of the experiments' inference, by simulation on arrays (no model): repetition probes under
Benjamini–Hochberg, and cluster-robust intervals over documents."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.experiments import REPETITION_FDR, probe_repetition
from analyses.inference import benjamini_hochberg, cluster_interval, lower_tail_p, permutation_p

V = 5000
N_PROBES = 50
DRAWS = 400
DOCUMENTS = 79  # the built-in corpus's topics; 100 sequences, as the default budget gives


def fake_model(seed: int, never_trained=()):
    """repeat_probability of a vocabulary whose tokens are all alike (log-normal), but `never_trained` ones ~0."""
    probability = np.exp(np.random.default_rng(seed).normal(-3, 1.5, V))
    probability[list(never_trained)] = 1e-9
    return lambda ids: probability[np.asarray(ids)]


def test_ordinary_tokens_as_probes_rarely_give_any_cannot_repeat():
    """Every probe is an ordinary token: BH keeps the share of runs with any call near or below its level."""
    runs_with_a_call = 0
    for seed in range(DRAWS):
        probes = np.random.default_rng(10_000 + seed).choice(V, N_PROBES, replace=False)
        r = probe_repetition(fake_model(seed), probes, V, REPETITION_FDR, seed)
        runs_with_a_call += bool(r.confirmed)
    share = runs_with_a_call / DRAWS
    assert share <= REPETITION_FDR + 3 * np.sqrt(REPETITION_FDR * (1 - REPETITION_FDR) / DRAWS)  # ≤ 0.083
    # the old rule (below the ordinary tokens' 5th percentile) flagged at least one in most runs
    r = probe_repetition(fake_model(0), np.arange(N_PROBES), V, REPETITION_FDR, 0)
    assert (r.percentile < 0.05).sum() >= 1


def test_planted_never_trained_tokens_are_confirmed_and_ordinary_ones_are_not():
    planted = list(range(100, 120))
    probes = planted + list(range(2000, 2030))
    r = probe_repetition(fake_model(1, planted), probes, V, REPETITION_FDR, seed=1)
    assert set(planted) <= set(r.confirmed) and len(r.ordinary_ids) >= N_PROBES / REPETITION_FDR
    assert len(set(r.confirmed) - set(planted)) <= 1
    assert np.all(r.q[: len(planted)] <= REPETITION_FDR)
    assert np.all(r.p[: len(planted)] == 1 / (1 + len(r.ordinary_ids)))


def test_benjamini_hochberg_known_answer():
    # the textbook example: m = 5, p sorted; q_(i) = min_{j ≥ i} p_(j)·m/j
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    assert np.allclose(benjamini_hochberg(p), [0.025, 0.05, 0.05, 0.025, 0.2])  # sorted: ·5, ·5/2, ·5/3, ·5/4, ·1
    assert np.array_equal(lower_tail_p([0.0, 0.5, 2.0], [0.1, 0.5, 1.0]), [0.25, 0.75, 1.0])  # ties count
    assert permutation_p(9.0, np.arange(9.0)) == pytest.approx(0.1)  # top of ten: 1/(d+1) with d = 9 others


def _clusters() -> np.ndarray:
    """100 sequences over 79 documents: 21 documents give two."""
    return np.sort(np.concatenate([np.arange(DOCUMENTS), np.arange(100 - DOCUMENTS)]))


def _draw(rng, clusters, effect):
    """Per-sequence loss changes: a shared effect, a document-level deviation and a sequence-level one."""
    document = rng.normal(0, 0.05, DOCUMENTS)[clusters]
    return effect + document + rng.standard_t(5, len(clusters)) * 0.05


def test_a_planted_effect_shared_by_all_sequences_is_found_at_the_default_budget():
    clusters = _clusters()
    rng = np.random.default_rng(0)
    excluded = [cluster_interval(_draw(rng, clusters, 0.04), clusters)[0] > 0 for _ in range(200)]
    assert np.mean(excluded) >= 0.95


def test_without_an_effect_the_interval_covers_zero():
    clusters = _clusters()
    rng = np.random.default_rng(1)
    covered = [lo <= 0 <= hi for lo, hi in (cluster_interval(_draw(rng, clusters, 0.0), clusters)
                                            for _ in range(2000))]
    assert np.mean(covered) >= 0.93
