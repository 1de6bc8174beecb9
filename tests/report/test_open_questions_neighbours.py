"""The open-questions section's neighbour tables, made a block of unit rows at a time, equal bit for bit the
tables made from a whole unit-norm copy of the matrix."""

from __future__ import annotations

import numpy as np
import pytest

from report.sections import open_questions


def _from_a_unit_copy(matrix: np.ndarray, ids) -> dict:
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    found = {}
    for i in ids:
        cos = unit @ unit[i]
        cos[i] = -np.inf
        top = np.argsort(-cos, kind="stable")[:open_questions.N_NEIGHBOURS]
        found[int(i)] = tuple((int(j), float(cos[j])) for j in top)
    return found


@pytest.mark.parametrize("unit_block", [8, 256, 16384])  # multiples of the BLAS kernels' row groups
def test_blockwise_neighbours_equal_the_unit_copy_ones(monkeypatch, unit_block):
    monkeypatch.setattr(open_questions, "UNIT_BLOCK", unit_block)
    rng = np.random.default_rng(5)
    matrix = (rng.normal(size=(1500, 56)) * rng.lognormal(0, 0.5, size=(1500, 1))).astype(np.float32)
    matrix[700:705] = matrix[11]  # ties: the stable sort keeps the lower id
    matrix[900] = 0
    ids = (11, 900, 1399, 0, *range(3, 1400, 97))
    got = open_questions._neighbours(matrix[:1400], ids)  # a row slice, as the head is passed
    assert got == _from_a_unit_copy(matrix[:1400], ids)
    assert got[11][0][0] == 700 and got[11][0][1] == pytest.approx(1.0, abs=1e-6)
