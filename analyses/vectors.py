"""Row-wise vector primitives every analysis shares: norms and cosines of matrix rows, in float64.

Weights arrive as float32 (or lower) matrices of up to ~250k × 8k. Each function here widens one block of
about WIDEN_BYTES to float64 at a time, so the result has float64 accuracy whatever the input precision
without a full-size float64 copy of the matrix; a block small enough to stay in cache is read at cache speed
(each row's sum is the same whatever the block size). Every plain "length of each row" in the project comes from
`row_norms`, so two sections never disagree about which token is longest.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 8192  # rows widened to float64 at once by other modules: 8192 × 1600 float64 is 100 MB
WIDEN_BYTES = 1 << 20  # float64 rows widened here at once: in cache (at d = 768, 2.5× faster than 8192 rows)
N_EXTREMES = 20  # longest (and shortest) rows each report lists


def row_norms(w: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """[rows] Euclidean length of each row of `w` ([rows, d]), or of each row minus `centre` ([d]), in float64."""
    out = np.empty(len(w))
    step = widen_rows(w.shape[1] if w.ndim == 2 else 1)
    for a in range(0, len(w), step):
        block = np.asarray(w[a:a + step], dtype=np.float64)
        if centre is not None:
            block = block - centre
        out[a:a + step] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def widen_rows(d: int) -> int:
    """Rows of width d in one float64 block of WIDEN_BYTES (at least one). Larger blocks leave the cache, and
    where the C library maps each large block afresh (report.run.heap) they also pay for new pages."""
    return max(1, WIDEN_BYTES // (8 * max(1, d)))


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[rows] cosine between row i of `a` and row i of `b` (both [rows, d]); 0 where either row is zero."""
    out = np.zeros(len(a))
    step = widen_rows(a.shape[1] if a.ndim == 2 else 1)
    for i in range(0, len(a), step):
        x, y = np.asarray(a[i:i + step], np.float64), np.asarray(b[i:i + step], np.float64)
        denom = np.sqrt(np.einsum("ij,ij->i", x, x)) * np.sqrt(np.einsum("ij,ij->i", y, y))
        out[i:i + step] = np.einsum("ij,ij->i", x, y) / np.where(denom > 0, denom, 1)
    return out
