"""Shared statistics helpers against direct float64 computations."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.stats import column_moments


@pytest.mark.parametrize("rows,chunk", [(1, 8), (7, 3), (1000, 128), (1000, 1000), (1001, 64)])
def test_column_moments_match_float64(rows, chunk):
    rng = np.random.default_rng(rows)
    # A large offset in one column: a one-pass sum of squares would lose the small spread there.
    x = (rng.standard_normal((rows, 5)) * [1, 1e-3, 10, 1, 1] + [0, 1e3, 0, -5, 0]).astype(np.float32)
    mean, std = column_moments(x, chunk=chunk)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, exact.std(axis=0), rtol=1e-9, atol=1e-12)
