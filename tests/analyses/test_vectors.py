"""The shared row primitives against direct float64 computations, across block boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from analyses import vectors
from analyses.stats import spearman
from analyses.vectors import row_cosines, row_norms


@pytest.mark.parametrize("rows,block", [(0, 4), (1, 4), (7, 3), (9, 3), (1000, 128)])
def test_row_norms_and_cosines_match_float64_across_blocks(rows, block, monkeypatch):
    monkeypatch.setattr(vectors, "WIDEN_BYTES", 8 * 6 * block)  # blocks of `block` rows of 6 float64 values
    assert vectors.widen_rows(6) == block
    rng = np.random.default_rng(rows)
    a = rng.standard_normal((rows, 6)).astype(np.float32)
    b = rng.standard_normal((rows, 6)).astype(np.float32)
    centre = rng.standard_normal(6)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose(row_norms(a), np.sqrt((a64 ** 2).sum(1)), rtol=1e-14)
    np.testing.assert_allclose(row_norms(a, centre=centre), np.sqrt(((a64 - centre) ** 2).sum(1)), rtol=1e-13)
    expected = (a64 * b64).sum(1) / np.sqrt((a64 ** 2).sum(1) * (b64 ** 2).sum(1))
    np.testing.assert_allclose(row_cosines(a, b), expected, rtol=1e-13)
    assert row_norms(a).dtype == np.float64 and row_norms(a).shape == (rows,)


def test_norms_are_float64_whatever_the_input():
    # Squares of 1e20 overflow float32 (max 3.4e38); a float32 norm would be inf, and 1 + 1e-8 would be 1.
    w = np.array([[1e20, 1e20], [1.0, 1e-4]], dtype=np.float32)
    norms = row_norms(w)
    assert np.isfinite(norms).all()
    np.testing.assert_allclose(norms, [np.sqrt(2) * float(np.float32(1e20)), np.sqrt(1 + float(np.float32(1e-4)) ** 2)],
                               rtol=1e-15)
    assert norms[1] > 1.0


def test_cosine_is_zero_where_a_row_is_zero():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 2.0]])
    b = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, -1.0]])
    np.testing.assert_allclose(row_cosines(a, b), [0.0, 0.0, -1.0], atol=1e-15)


def test_spearman_is_nan_when_undefined_and_rank_based_otherwise():
    x = np.arange(10.0)
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    assert np.isnan(spearman(x, np.ones(10)))
    assert np.isnan(spearman(np.ones(10), x))
    assert np.isnan(spearman(x[:2], x[:2]))
