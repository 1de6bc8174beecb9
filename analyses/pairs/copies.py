"""Exact duplicate rows: found before the pair pass, which then runs on one row per group of identical rows.

A group of g identical rows would otherwise hold g(g − 1)/2 crowding pairs at distance 0 (about 50 million for
g = 10,000). Identical rows also change no zero-layer answer: a copy scores exactly its own score, so it
never beats a token, and the copies of a winner tie it, so the lowest id (the group's first) takes them.
"""

from __future__ import annotations

import numpy as np

CHUNK = 4096  # rows hashed at once
HASHED = 16  # leading values weighted in the hash


def exact_copies(w: np.ndarray) -> np.ndarray:
    """[rows] int64: for each row, the lowest id of a row with the same bits (its own id when it has none).

    Rows are hashed from their bits (integer arithmetic: the same for the same row wherever it sits; the
    first HASHED values weighted, and the sum of all), and only rows with equal hashes are compared. Rows that
    differ only in the sign of a zero are equal in value but not collapsed: the pass handles them exactly."""
    rows = np.ascontiguousarray(w, dtype=np.float32)
    n = rows.shape[0]
    copies = np.arange(n, dtype=np.int64)
    if n < 2 or rows.shape[1] == 0:
        return np.zeros(n, dtype=np.int64)
    bits = rows.view(np.uint32)
    weights = np.random.default_rng(0).integers(1, 2 ** 63, min(HASHED, rows.shape[1]), dtype=np.uint64)
    hashes = np.concatenate([(bits[a:a + CHUNK, :HASHED].astype(np.uint64) * weights).sum(1)
                             for a in range(0, n, CHUNK)])
    hashes += bits.sum(1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    order = np.argsort(hashes, kind="stable")  # equal hashes: ascending ids
    same = hashes[order][1:] == hashes[order][:-1]
    if not same.any():
        return copies
    edges = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2] + 1):  # runs of equal hashes: rows order[start:stop]
        ids = order[start:stop]
        block = rows[ids]
        _, first, inverse = np.unique(block.view(np.dtype((np.void, 4 * rows.shape[1]))).ravel(),
                                      return_index=True, return_inverse=True)
        copies[ids] = ids[first[inverse.ravel()]]
    return copies


def near_pair_count(pairs: np.ndarray, copies: np.ndarray, threshold: float, groups: np.ndarray | None = None) -> int:
    """How many pairs of tokens lie within the threshold, counting every copy: the listed pairs of distinct
    rows times the sizes of their groups, plus the pairs inside each group (distance 0). With `groups`
    (analyses.pairs.token_pairs.PairScan.groups), every pair inside a group of near-duplicates is within the threshold
    and counted from the group's size; its listed pairs are skipped."""
    sizes = np.bincount(copies, minlength=len(copies)).astype(np.int64)
    inside = int((sizes * (sizes - 1) // 2).sum()) if threshold >= 0 else 0
    if groups is not None and threshold >= 0 and (groups != np.arange(len(groups))).any():
        label = groups[copies]  # per distinct row (and its copies)
        pairs = pairs[label[pairs[:, 0]] != label[pairs[:, 1]]] if len(pairs) else pairs
        rows = np.flatnonzero(copies == np.arange(len(copies)))
        total = np.bincount(label[rows], weights=sizes[rows], minlength=len(copies)).astype(np.int64)
        squares = np.bincount(label[rows], weights=sizes[rows] ** 2, minlength=len(copies)).astype(np.int64)
        inside += int(((total * total - squares) // 2).sum())  # pairs across the distinct rows of each group
    return inside + int((sizes[pairs[:, 0]] * sizes[pairs[:, 1]]).sum()) if len(pairs) else inside
