"""Shared statistics helpers against direct float64 computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal, stats

import analyses.stats as stats_module
from analyses.stats import average_ranks, column_moments, density_valley, envelope_periodicity, shared_moments, spearman


@pytest.mark.parametrize("rows,chunk", [(1, 8), (7, 3), (1000, 128), (1000, 1000), (1001, 64)])
def test_column_moments_match_float64(rows, chunk):
    rng = np.random.default_rng(rows)
    # A large offset in one column: a one-pass sum of squares would lose the small spread there.
    x = (rng.standard_normal((rows, 5)) * [1, 1e-3, 10, 1, 1] + [0, 1e3, 0, -5, 0]).astype(np.float32)
    mean, std = column_moments(x, chunk=chunk)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, exact.std(axis=0), rtol=1e-9, atol=1e-12)


def _red_noise(rng: np.random.Generator, n: int, k: int, phi: float = 0.9) -> np.ndarray:
    noise = signal.lfilter([1.0], [1.0, -phi], rng.normal(size=(n, k)), axis=0)
    return (noise - noise.mean(axis=0)) / noise.std(axis=0)


def test_envelope_periodicity_finds_sinusoids_in_red_noise():
    """Sinusoids of 2–8 cycles plus red noise at signal/noise variance 4 (the study's size) are spectral lines."""
    n, k = 1024, 21
    rng = np.random.default_rng(0)
    t = np.arange(n)[:, None]
    cycles = np.resize(np.arange(2, 9), k)
    waves = np.sqrt(2) * np.sin(2 * np.pi * cycles * t / n + rng.uniform(0, 2 * np.pi, k))
    share, period, p = envelope_periodicity(2 * waves + _red_noise(rng, n, k), seed=0)
    assert (p <= 0.01).all() and (share >= 0.5).all()
    np.testing.assert_allclose(period, n / cycles)


def test_envelope_periodicity_passes_random_walks_at_the_nominal_rate():
    n, k = 1024, 100
    walks = np.cumsum(np.random.default_rng(1).normal(size=(n, k)), axis=0)
    _, _, p = envelope_periodicity(walks, seed=2)
    assert np.sum(p <= 0.01) <= 3  # nominal 1 of 100


def test_envelope_periodicity_is_seeded_and_handles_empty_input():
    curves = np.cumsum(np.random.default_rng(3).normal(size=(256, 4)), axis=0)
    assert np.array_equal(envelope_periodicity(curves, seed=4)[2], envelope_periodicity(curves, seed=4)[2])
    assert [a.shape for a in envelope_periodicity(np.zeros((256, 0)), seed=0)] == [(0,), (0,), (0,)]


def test_density_valley_sees_a_gap_but_not_a_uniform_spread():
    rng = np.random.default_rng(5)
    gap = np.r_[rng.normal(0, 0.1, 200), rng.normal(1, 0.1, 20)]
    assert density_valley(gap, 0.0, 1.0, 0.05) < 0.05
    flat = rng.uniform(0, 1, 500)
    assert density_valley(flat, 0.25, 0.75, 0.05) > 0.6
    assert density_valley(flat, 0.5, 0.5, 0.05) == 1.0


def _rank_cases():
    rng = np.random.default_rng(3)
    return [rng.normal(size=(500, 7)), rng.integers(0, 5, (300, 6)).astype(np.float64), rng.integers(0, 3, 400),
            np.round(rng.normal(size=(60, 40)), 1).astype(np.float32), np.array([0.0, -0.0, 1, 1, -0.0]),
            np.array([3.0]), np.array([1.0, np.nan, 2]), rng.normal(size=(7, 9, 5)), np.full((2, 4), 2.0),
            np.array([np.inf, -np.inf, np.inf, 0.0])]


@pytest.mark.parametrize("case", range(len(_rank_cases())))
def test_average_ranks_are_scipys_exactly_in_value_and_layout(case):
    """Ties (runs of every length, ±0, ±inf), NaN, every axis: the same float64 values and strides as scipy's
    rankdata, so a later reduction over the ranks sums in the same order."""
    x = _rank_cases()[case]
    for axis in range(-1, x.ndim):
        expected, found = stats.rankdata(x, axis=axis), average_ranks(x, axis=axis)
        assert found.dtype == expected.dtype and found.strides == expected.strides
        np.testing.assert_array_equal(found, expected)


def test_spearman_is_scipys_statistic_bit_for_bit():
    rng = np.random.default_rng(4)
    for i in range(60):
        n = int(rng.integers(3, 300))
        x = rng.normal(size=n)
        y = x * rng.normal() + rng.normal(size=n)
        x = np.round(x, 1) if i % 3 == 0 else rng.integers(0, 4, n) if i % 7 == 0 else x
        assert spearman(x, y) == float(stats.spearmanr(x, y).statistic)
    assert np.isnan(spearman([1.0, np.nan, 3, 4], [1.0, 2, 3, 4])) and np.isnan(spearman([1.0, 1, 1], [1.0, 2, 3]))


def test_shared_moments_compute_each_matrix_once_inside_the_block_only(monkeypatch):
    computed = []
    inner = stats_module._column_moments
    monkeypatch.setattr(stats_module, "_column_moments", lambda rows, chunk: computed.append(rows.shape) or
                        inner(rows, chunk))
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=(50, 4)).astype(np.float32)
    alone = column_moments(a)
    computed.clear()
    with shared_moments():
        first, again, view = column_moments(a), column_moments(a), column_moments(a[:50])
        other, part = column_moments(b), column_moments(a[:20])
        first[0][:] = 0  # a caller's copy: changing it changes nothing shared
        assert np.array_equal(column_moments(a)[0], alone[0])
    assert computed == [(50, 4), (50, 4), (20, 4)]  # a, then b and a's first 20 rows; the repeats were shared
    for found in (again, view):
        assert all(np.array_equal(x, y) for x, y in zip(found, alone))
    assert not np.array_equal(other[1], alone[1]) and not np.array_equal(part[1], alone[1])
    column_moments(a)
    assert len(computed) == 4  # outside the block every call computes


def test_a_group_of_one_point_still_gives_a_fisher_direction_and_a_mixture():
    """One word-start token among many (a vocabulary of single characters): the lone point scatters nothing, the
    direction is finite and unit length, and the scores along it get a two-component fit, not NaN."""
    from analyses.stats import fisher_direction, two_gaussian_mixture

    rng = np.random.default_rng(0)
    points = rng.standard_normal((64, 2))
    labels = np.zeros(64, dtype=bool)
    labels[7] = True
    for group in (labels, ~labels):
        direction = fisher_direction(points, group)
        assert np.isfinite(direction).all() and np.linalg.norm(direction) == pytest.approx(1.0)
    fit = two_gaussian_mixture(points @ fisher_direction(points, labels))
    assert np.isfinite(fit.means).all() and sum(fit.weights) == pytest.approx(1.0)


def test_a_mixture_of_values_no_start_can_split_is_one_component():
    from analyses.stats import two_gaussian_mixture

    for values in (np.full(10, np.nan), np.array([0.0, 0.0, 0.0, 1.0, np.nan])):
        fit = two_gaussian_mixture(values)
        assert fit.weights == (1.0, 0.0) and fit.bic_gain == 0.0 and not fit.high.any()
