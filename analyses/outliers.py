"""Outlier tokens: the longest and shortest embedding vectors, crowded clumps of near-identical tokens
(the study's "wastebasket" of rarely trained tokens), and the nearest neighbours of notable tokens.

Crowding rule (a density rule: it assumes nothing about where a clump sits):
    A token's crowding distance is the Euclidean distance to its K-th nearest other token in the full
    embedding space. Its typical value is the median over SAMPLE tokens drawn with the seed. A token is
    *crowded* when its crowding distance t_u is both a robust low outlier (log t_u at least 3.5 robust
    standard deviations below the sample's median log) and under half the median. Crowded tokens closer
    than that threshold to each other are linked (single linkage); linked groups of at least MIN_CLUMP
    tokens are the clumps.

Search (exhaustive and exact): the crowding scale comes from the exact K-th neighbour distances of the
SAMPLE tokens; then one pass over all pairs (analyses.token_pairs, shared with the zero-layer model) returns
every pair of tokens at most the threshold apart, with exact float64 distances (inside a large group of
near-duplicates, all of whose pairs are within it, each member's nearest members and a link to the group's
centre stand for the pairs, which are counted from the group's size). A token is crowded exactly when at
least K other tokens lie within the threshold, so nothing is left unchecked at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from analyses.claims import Claim, claim
from analyses.pair_copies import near_pair_count
from analyses.stats import MAD_TO_SIGMA, percentile_ranks
from analyses.token_pairs import PairScan, scan_pairs
from analyses.vectors import N_EXTREMES, row_norms

if TYPE_CHECKING:
    from analyses.under_trained import UnderTrainedResult

K = 5  # neighbours that define crowding (at most analyses.pair_groups.K_NEAREST)
SAMPLE = 512
LOW_Z = 3.5
MAX_RATIO = 0.5
MIN_CLUMP = 8
N_NEIGHBOURS = 5
MAX_NOTABLE = 512
LOW_PERCENTILE = 0.25  # claim 24: "low" means the clump's median member is in the lowest quarter

RULE = (f"A token is crowded when the distance to its {K}th nearest token is a robust low outlier (log distance "
        f"≥ {LOW_Z} robust SD below the median over {SAMPLE} seeded sample tokens) and under {MAX_RATIO} × that "
        f"median. Crowded tokens closer than the same threshold are linked (single linkage); linked groups of "
        f"≥ {MIN_CLUMP} tokens are clumps.")


@dataclass(frozen=True, eq=False)
class OutliersResult:
    """Extremes of length, crowded clumps, and neighbours of notable tokens.

    Attributes:
        norms: [tokens] L2 norm of each token embedding (embedding units).
        centroid_distance: [tokens] distance of each token from the mean embedding.
        unigram_dim: the unigram dim used for claim 24 and the figure, or None.
        unigram_values: [tokens] each token's value on that dim, or None.
        longest, shortest: ids of the N_EXTREMES longest (longest first) and shortest (shortest first).
        sample_size: tokens whose crowding distance set the scale.
        median_crowding: median distance to the K-th nearest token over the sample.
        threshold: crowding threshold (embedding units) from the rule.
        near_pairs: pairs of tokens at most the threshold apart (all of them: the search is exhaustive).
        exhaustive: whether every token was checked (always True: one pass covers every pair).
        precision: the pass's screen precision ("bf16" or "fp32"; distances are exact float64 either way).
        crowding: {token id: exact distance to its K-th nearest token} for the sample and every crowded token.
        crowded: ids of the crowded tokens, sorted.
        clumps: clumps of ≥ MIN_CLUMP linked crowded tokens, each sorted; largest first.
        clump_token_ids: every clump member, sorted.
        neighbours: {token id: ((neighbour id, cosine), ...)} the N_NEIGHBOURS nearest tokens by cosine for
            each notable token (longest, shortest, clump members, extra ids given), at most MAX_NOTABLE.
        clump_percentiles: per clump, median member percentile of (norm, unigram value or NaN,
            centroid distance), percentiles in [0, 1] among all tokens.
        claims: the verdict on claim 24.
        under_trained: every token's under-trained score (analyses.under_trained), or None when not scored.
    """

    norms: np.ndarray
    centroid_distance: np.ndarray
    unigram_dim: int | None
    unigram_values: np.ndarray | None
    longest: tuple[int, ...]
    shortest: tuple[int, ...]
    sample_size: int
    median_crowding: float
    threshold: float
    near_pairs: int
    exhaustive: bool
    precision: str
    crowding: dict
    crowded: tuple[int, ...]
    clumps: tuple[tuple[int, ...], ...]
    clump_token_ids: tuple[int, ...]
    neighbours: dict
    clump_percentiles: tuple[tuple[float, float, float], ...]
    claims: tuple[Claim, ...]
    under_trained: UnderTrainedResult | None = None


@dataclass(frozen=True, eq=False)
class CrowdingScale:
    """The crowding rule's scale, from the seeded sample.

    Attributes:
        sample: ids of the sample tokens, sorted.
        distances: [sample] exact distance of each to its K-th nearest other token (embedding units).
        median: median of those distances.
        threshold: crowding threshold (embedding units; -1 when there are too few tokens).
    """

    sample: np.ndarray
    distances: np.ndarray
    median: float
    threshold: float


def crowding_scale(token_embeddings: np.ndarray, seed: int = 0, device: str = "cpu") -> CrowdingScale:
    """The sample's K-th neighbour distances and the threshold of the rule."""
    w32 = np.asarray(token_embeddings, dtype=np.float32)
    if w32.ndim != 2:
        raise ValueError(f"expected a matrix of token rows, got shape {w32.shape}")
    n = w32.shape[0]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(SAMPLE, n), replace=False)) if n > K + 1 else np.zeros(0, int)
    distances = np.array(_kth_distance(torch.as_tensor(w32, device=device), w32, sample))
    median, threshold = _threshold(distances, row_norms(w32))
    return CrowdingScale(sample, distances, median, threshold)


def analyse_outliers(token_embeddings: np.ndarray, unigram_dim: int | None, extra_notable: Sequence[int] = (),
                     seed: int = 0, device: str = "cpu",
                     found: tuple[CrowdingScale, PairScan] | None = None) -> OutliersResult:
    """Length extremes, crowded clumps by the rule in the module docstring, and neighbours by cosine.

    `found` is (crowding_scale(...), the pass's result with that threshold) when they already ran (the
    report runs them in the background); otherwise they run here."""
    w32 = np.asarray(token_embeddings, dtype=np.float32)  # float64 only a chunk or a gathered row set at a time
    n = w32.shape[0]
    w = torch.as_tensor(w32, device=device)
    mean = w32.mean(axis=0, dtype=np.float64)
    norms, centroid_distance = row_norms(w32), row_norms(w32, centre=mean)
    m = min(N_EXTREMES, n)
    longest = tuple(int(i) for i in np.argsort(-norms, kind="stable")[:m])
    shortest = tuple(int(i) for i in np.argsort(norms, kind="stable")[:m])

    if found is None:
        scale = crowding_scale(w32, seed, device)
        scan = scan_pairs(w32, threshold=scale.threshold, device=device)
    else:
        scale, scan = found
        if scan.threshold != scale.threshold or len(scan.predicts) != n:
            raise ValueError("the pair pass does not match these embeddings and this crowding threshold")
    crowding = dict(zip(scale.sample.tolist(), scale.distances.tolist()))
    kth = _kth_within(scan.near_pairs, scan.near_distances, scan.copies, scale.threshold)
    crowding.update(kth)
    crowded = np.array(sorted(kth), dtype=int)
    clumps = _link(crowded, scan.near_pairs, scan.copies)
    members = tuple(sorted(i for c in clumps for i in c))

    unigram = w32[:, unigram_dim].astype(np.float64) if unigram_dim is not None else None
    pct_norm, pct_centroid = percentile_ranks(norms), percentile_ranks(centroid_distance)
    pct_unigram = percentile_ranks(unigram) if unigram is not None else np.full(n, np.nan)
    clump_pct = tuple((float(np.median(pct_norm[list(c)])), float(np.median(pct_unigram[list(c)])),
                       float(np.median(pct_centroid[list(c)]))) for c in clumps)

    notable = list(dict.fromkeys([*longest, *shortest, *members, *(int(i) for i in extra_notable)]))[:MAX_NOTABLE]
    neighbours = _cosine_neighbours(w, norms, notable)
    return OutliersResult(norms, centroid_distance, unigram_dim, unigram, longest, shortest, len(scale.sample),
                          scale.median, scale.threshold,
                          near_pair_count(scan.near_pairs, scan.copies, scale.threshold, scan.groups), True,
                          scan.precision,
                          {int(k): float(v) for k, v in sorted(crowding.items())},
                          tuple(int(i) for i in crowded), clumps, members, neighbours, clump_pct,
                          (_claim24(clumps, clump_pct, unigram_dim, complete=True),))  # the pair pass is exhaustive


def _kth_within(pairs: np.ndarray, distances: np.ndarray, copies: np.ndarray, threshold: float) -> dict:
    """{token: its K-th smallest distance} for every token with at least K others within the threshold.

    `pairs` join distinct rows (each id its group's first, see analyses.token_pairs.PairScan): a row's copies
    count as neighbours at distance 0, and each pair counts once per copy of the other row."""
    sizes = np.bincount(copies, minlength=len(copies))
    groups = np.flatnonzero(sizes > 1) if threshold >= 0 else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([pairs[:, 0], pairs[:, 1], groups])
    others = np.concatenate([sizes[pairs[:, 1]], sizes[pairs[:, 0]], sizes[groups] - 1])  # neighbours per entry
    both = np.concatenate([distances, distances, np.zeros(len(groups))])
    if len(ends) == 0:
        return {}
    order = np.lexsort((both, ends))
    ends, both, others = ends[order], both[order], others[order]
    starts = np.searchsorted(ends, np.unique(ends))
    kth = {}
    for start, stop in zip(starts, np.append(starts[1:], len(ends))):
        at = int(np.searchsorted(np.cumsum(others[start:stop]), K))  # first entry that reaches K neighbours
        if at < stop - start:
            kth[int(ends[start])] = float(both[start + at])
    if len(groups):  # every copy shares its group's distances
        members = np.flatnonzero(copies != np.arange(len(copies)))
        kth.update({int(t): kth[int(copies[t])] for t in members if int(copies[t]) in kth})
    return kth


def _threshold(sample_distances: np.ndarray, norms: np.ndarray) -> tuple[float, float]:
    """The median crowding distance and the crowding threshold of the rule."""
    if len(sample_distances) == 0:
        return float("nan"), -1.0
    floor = 1e-9 * max(float(np.median(norms)), 1e-30)  # keeps log finite for exact duplicates
    logs = np.log(np.maximum(sample_distances, floor))
    centre = float(np.median(logs))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(logs - centre)))
    return float(np.exp(centre)), float(min(np.exp(centre - LOW_Z * spread), MAX_RATIO * np.exp(centre)))


def _kth_distance(w: torch.Tensor, w32: np.ndarray, ids: np.ndarray, chunk: int = 256) -> list[float]:
    """Exact distance from each token in `ids` to its K-th nearest other token.

    Distances are ranked in float32 on the device; the K + 8 closest are re-measured in float64 directly."""
    out: list[float] = []
    if len(ids) == 0:
        return out
    squares = (w * w).sum(1)
    keep = min(K + 8, w.shape[0] - 1)
    for a in range(0, len(ids), chunk):
        rows = torch.as_tensor(ids[a:a + chunk], device=w.device)
        # (|u|² + |v|²) − 2u·v: the same operations in the same order, in place (one new block, not three)
        d2 = (squares[rows][:, None] + squares[None, :]).sub_((w[rows] @ w.T).mul_(2))
        d2[torch.arange(len(rows), device=w.device), rows] = float("inf")
        near = torch.topk(d2, keep, dim=1, largest=False).indices.cpu().numpy()
        rows64 = w32[ids[a:a + chunk]].astype(np.float64)
        exact = np.sort(np.linalg.norm(w32[near].astype(np.float64) - rows64[:, None, :], axis=2), axis=1)
        out.extend(float(x) for x in exact[:, K - 1])
    return out


def _link(crowded: np.ndarray, pairs: np.ndarray, copies: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Single-linkage groups of crowded tokens within the threshold of each other, with ≥ MIN_CLUMP members.

    Copies of a row are linked to each other (distance 0) and share the row's links; a row and its copies are
    crowded together (they share their neighbours' distances)."""
    if len(crowded) < MIN_CLUMP:
        return ()
    firsts = np.unique(copies[crowded])  # crowded distinct rows
    links = pairs[np.isin(pairs[:, 0], firsts) & np.isin(pairs[:, 1], firsts)]
    rows, columns = np.searchsorted(firsts, links[:, 0]), np.searchsorted(firsts, links[:, 1])
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(firsts), len(firsts)))
    _, labels = connected_components(graph, directed=False)
    labels = labels[np.searchsorted(firsts, copies[crowded])]  # each crowded token takes its row's group
    groups = [tuple(int(i) for i in crowded[labels == g]) for g in np.unique(labels)]
    clumps = [g for g in groups if len(g) >= MIN_CLUMP]
    return tuple(sorted(clumps, key=lambda g: (-len(g), g[0])))


def _cosine_neighbours(w: torch.Tensor, norms: np.ndarray, ids: list[int]) -> dict:
    """The N_NEIGHBOURS most similar other tokens by cosine (ties: lower id) for each id."""
    if not ids or w.shape[0] < 2:
        return {}
    scale = torch.as_tensor(np.where(norms > 0, norms, 1.0), dtype=torch.float32, device=w.device)
    unit = w / scale[:, None]
    keep = min(N_NEIGHBOURS + 8, w.shape[0])
    out = {}
    for a in range(0, len(ids), 256):
        rows = torch.as_tensor(ids[a:a + 256], device=w.device)
        cos = unit[rows] @ unit.T
        cos[torch.arange(len(rows), device=w.device), rows] = -float("inf")
        values, indices = torch.topk(cos, keep, dim=1)
        for row, vals, cols in zip(ids[a:a + 256], values.cpu().numpy(), indices.cpu().numpy()):
            order = np.lexsort((cols, -vals))[:N_NEIGHBOURS]
            out[int(row)] = tuple((int(cols[j]), float(vals[j])) for j in order if np.isfinite(vals[j]))
    return out


def _claim24(clumps, clump_pct, unigram_dim: int | None, complete: bool = True) -> Claim:
    """Claim 24; never decided on a partial search (`complete` False: some candidates were not checked)."""
    rule = (f"holds if the largest clump (≥ {MIN_CLUMP} tokens, crowding rule) has its median member in the lowest "
            f"{LOW_PERCENTILE:.0%} of tokens by norm and by unigram-dim value; "
            "value = the larger of the two percentiles; "
            "decided only when the crowding search checked every candidate")
    if not complete:
        return claim("rare_token_clump", None, None, rule,
                     "the crowding search stopped before checking every candidate, so a clump may have been missed")
    if not clumps:
        return claim("rare_token_clump", None, False, rule, "no crowded clump found")
    norm_pct, unigram_pct, centroid_pct = clump_pct[0]
    where = f"{len(clumps[0])} tokens; median percentile of norm {norm_pct:.0%}"
    if unigram_dim is None:
        return claim("rare_token_clump", norm_pct, norm_pct <= LOW_PERCENTILE, rule,
                     where + "; no unigram dim stands out in this model, so only the norm part is tested")
    value = max(norm_pct, unigram_pct)
    return claim("rare_token_clump", value, value <= LOW_PERCENTILE, rule,
                 where + f", of unigram dim {unigram_dim} {unigram_pct:.0%}, "
                 f"of distance to the centroid {centroid_pct:.0%}")
