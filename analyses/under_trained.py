"""Under-trained tokens, scored from the weights alone, after Land & Bartolo 2024 ("Fishing for Magikarp").

Rule (the score is the published unembedding indicator; clump and norm are supporting columns, not mixed in):
    Take the output matrix U (the unembedding; the token matrix for tied models), one row per token. Remove
    from every row its projection on the first principal component of U (PCA of the centred rows: the
    direction shared by all tokens that the paper removes). The reference set is the crowded clump(s) of the
    outliers section (tokens known to sit together, as never-trained ones do); without a clump it is the
    REFERENCE_SHARE of tokens (at least MIN_REFERENCE) with the shortest input embeddings. A token's score is
    the cosine of its reduced row to the mean reduced row of the reference set: near 1 for tokens whose output
    row looks like the reference's, near 0 or below for ordinary ones. Tokens are ranked by score (ties: the
    shorter input embedding, then the lower id); the top max(MIN_KEPT, clump size) are kept as candidates.
    Forward passes (analyses.experiments.probe_repetition) confirm or refute the leading candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analyses.stats import percentile_ranks

MIN_KEPT = 50  # candidates kept: max(MIN_KEPT, clump size), at most every token
REFERENCE_SHARE = 0.01  # without a clump: this share of the shortest input embeddings is the reference set
MIN_REFERENCE = 8
REMOVED_COMPONENTS = 1
CHUNK = 8192  # rows converted to float64 at a time

RULE = (f"Score = cosine of a token's unembedding row (the token matrix when tied), with the first principal "
        f"component of all rows removed, to the mean such row of a reference set of likely unused tokens: the "
        f"crowded clump, or without one the shortest {REFERENCE_SHARE:.0%} of input embeddings (at least "
        f"{MIN_REFERENCE}) (Land & Bartolo 2024). Clump membership and norm percentile are shown beside it, not "
        f"mixed in; the top max({MIN_KEPT}, clump size) are kept.")


@dataclass(frozen=True, eq=False)
class UnderTrainedResult:
    """Every token's under-trained score and the ranked candidates.

    Attributes:
        score: [tokens] cosine (unitless, in [-1, 1]) of each token's reduced output row to the reference mean.
        reference: ids of the reference set, sorted; reference_kind: "clump" or "shortest".
        in_clump: [tokens] bool, member of a crowded clump.
        norm_percentile: [tokens] percentile in [0, 1] of each input embedding's L2 norm among all tokens.
        centroid_percentile: [tokens] percentile in [0, 1] of each input embedding's distance to the mean one.
        ranked: ids of the kept candidates, highest score first (len = kept).
        kept: how many candidates are kept: min(tokens, max(MIN_KEPT, clump size)).
        removed_components: principal components of the output matrix removed before the cosine.
    """

    score: np.ndarray
    reference: tuple[int, ...]
    reference_kind: str
    in_clump: np.ndarray
    norm_percentile: np.ndarray
    centroid_percentile: np.ndarray
    ranked: tuple[int, ...]
    kept: int
    removed_components: int


def leading_components(output_matrix: np.ndarray, components: int = REMOVED_COMPONENTS) -> np.ndarray:
    """[components, d] the leading principal directions (unit rows) of the centred rows, from the d × d covariance
    accumulated in float64 a chunk of rows at a time (no full float64 copy of a large vocabulary)."""
    n, d = output_matrix.shape
    if components <= 0 or n < 2:
        return np.zeros((0, d))
    total, gram = np.zeros(d), np.zeros((d, d))
    for a in range(0, n, CHUNK):
        rows = np.asarray(output_matrix[a:a + CHUNK], dtype=np.float64)
        total += rows.sum(axis=0)
        gram += rows.T @ rows
    mean = total / n
    _, vectors = np.linalg.eigh(gram / n - np.outer(mean, mean))
    return vectors[:, ::-1][:, :components].T


def _scores(output_matrix: np.ndarray, v: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine of each row, less its projection on `v`, to the mean reduced reference row.

    A reduced row u − VᵀVu has dot product u·m with the reduced mean m (m ⟂ V) and squared length |u|² − |Vu|²."""
    n = output_matrix.shape[0]
    ref = np.asarray(output_matrix[reference], dtype=np.float64).mean(axis=0)
    m = ref - v.T @ (v @ ref)
    out = np.zeros(n)
    for a in range(0, n, CHUNK):
        rows = np.asarray(output_matrix[a:a + CHUNK], dtype=np.float64)
        length2 = np.maximum((rows * rows).sum(axis=1) - ((rows @ v.T) ** 2).sum(axis=1), 0.0)
        lengths = np.sqrt(length2) * np.linalg.norm(m)
        np.divide(rows @ m, lengths, out=out[a:a + CHUNK], where=lengths > 0)
    return np.clip(out, -1.0, 1.0)  # rounding in |u|² − |Vu|² for rows nearly along V


def score_under_trained(output_matrix: np.ndarray, input_norms: np.ndarray, centroid_distance: np.ndarray,
                        clump_ids: Sequence[int]) -> UnderTrainedResult:
    """Scores and ranked candidates by the rule in the module docstring.

    `output_matrix`: [tokens, d] unembedding (or tied token) rows; `input_norms`, `centroid_distance`: [tokens]
    from the input embeddings (analyses.outliers); `clump_ids`: every crowded-clump member."""
    n = output_matrix.shape[0]
    norms = np.asarray(input_norms, dtype=np.float64)
    if len(norms) != n or len(centroid_distance) != n:
        raise ValueError(f"{n} output rows but {len(norms)} norms and {len(centroid_distance)} centroid distances")
    clump = np.array(sorted({int(i) for i in clump_ids}), dtype=np.int64)
    if len(clump):
        reference, kind = clump, "clump"
    else:
        size = min(n, max(MIN_REFERENCE, int(round(REFERENCE_SHARE * n))))
        reference, kind = np.sort(np.argsort(norms, kind="stable")[:size]), "shortest"
    score = _scores(output_matrix, leading_components(output_matrix), reference)
    in_clump = np.zeros(n, dtype=bool)
    in_clump[clump] = True
    kept = min(n, max(MIN_KEPT, len(clump)))
    order = np.lexsort((np.arange(n), norms, -score))[:kept]
    return UnderTrainedResult(score, tuple(int(i) for i in reference), kind, in_clump, percentile_ranks(norms),
                              percentile_ranks(np.asarray(centroid_distance, dtype=np.float64)),
                              tuple(int(i) for i in order), kept, REMOVED_COMPONENTS)


def confirmed_by(result: UnderTrainedResult, probed: Sequence[int], confirmed: Sequence[int]) -> list[bool | None]:
    """For each kept candidate: True / False when the repetition test probed it (confirmed at the FDR level or
    not), None when it was not probed."""
    probed_set, yes = set(int(i) for i in probed), set(int(i) for i in confirmed)
    return [(i in yes) if i in probed_set else None for i in result.ranked]


def precision_recall(found: Sequence[int], truth: Sequence[int]) -> tuple[float, float]:
    """(precision, recall) of `found` against `truth` (precision 1.0 for an empty `found`; recall 1.0 for an
    empty `truth`)."""
    found_set, truth_set = set(int(i) for i in found), set(int(i) for i in truth)
    hits = len(found_set & truth_set)
    return (hits / len(found_set) if found_set else 1.0, hits / len(truth_set) if truth_set else 1.0)
